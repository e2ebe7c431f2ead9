use futures::{Stream, StreamExt};
use micro::{Context, Result, ResponseStream, Streaming};
use micro_tests::proto::{EchoRequest, EchoResponse};
use std::sync::Arc;

struct Shapes;

#[micro::handler]
impl Shapes {
    async fn server(&self, _: &Context, _: EchoRequest) -> Result<impl Stream<Item = Result<EchoResponse>> + Send + 'static> {
        Ok(futures::stream::empty())
    }

    async fn boxed(&self, _: &Context, _: EchoRequest) -> Result<ResponseStream<EchoResponse>> {
        Ok(futures::stream::empty().boxed())
    }

    async fn client(&self, _: &Context, _: Streaming<EchoRequest>) -> Result<EchoResponse> {
        Ok(EchoResponse::default())
    }

    async fn bidi(
        &self,
        _: &Context,
        reqs: micro::Streaming<EchoRequest>,
    ) -> micro::Result<impl Stream<Item = micro::Result<EchoResponse>> + Send + 'static> {
        Ok(reqs.map(|r| r.map(|_| EchoResponse::default())))
    }
}

fn main() {
    let endpoints = micro::server::Handler::endpoints(Arc::new(Shapes));
    let streams: Vec<(&str, &str)> =
        endpoints.iter().map(|e| (e.name(), e.info().metadata["stream"].as_str())).collect();
    assert_eq!(
        streams,
        [("Shapes.Server", "true"), ("Shapes.Boxed", "true"), ("Shapes.Client", "true"), ("Shapes.Bidi", "true")]
    );
}
