"""Drives `micro cli` through a pseudo-terminal (pexpect): a call, a completion, errors, exit."""
import sys

import pexpect

micro = sys.argv[1]
shell = pexpect.spawn(micro, ["cli"], encoding="utf-8", timeout=20, dimensions=(40, 200))
shell.expect_exact("micro> ")

shell.sendline('call go.micro.srv.greeter Greeter.Call \'{"name": "John"}\'')
shell.expect_exact('"msg": "Hello John"')
shell.expect_exact("micro> ")

# JSON typed as in go-micro's shell, unquoted: everything after the endpoint is the request.
shell.sendline('call go.micro.srv.greeter Greeter.Call {"name": "John Smith"}')
shell.expect_exact('"msg": "Hello John Smith"')
shell.expect_exact("micro> ")
shell.sendline('stream go.micro.srv.greeter Greeter.Stream {"count": 2}')
shell.expect_exact('"count": "1"')
shell.expect_exact("micro> ")
shell.sendline('publish go.micro.topic.shell {"message": "a b"}')
shell.expect_exact("ok")
shell.expect_exact("micro> ")
# Invalid JSON is still reported, and the shell goes on.
shell.sendline('call go.micro.srv.greeter Greeter.Call {"name": }')
shell.expect_exact("invalid JSON in the request: expected value at line 1 column 10")
shell.expect_exact("micro> ")

# Completion: a command, then a service name from the registry.
shell.send("ge\t")
shell.expect_exact("get ")
shell.send("service go.micro.srv.gr\t")
shell.expect_exact("go.micro.srv.greeter ")
shell.sendline("")
shell.expect_exact("service  go.micro.srv.greeter")
shell.expect_exact("micro> ")

# Endpoint completion after a service.
shell.send("call go.micro.srv.greeter Greeter.C\t")
shell.expect_exact("Greeter.Call ")
shell.sendline('\'{"name": "Tab"}\'')
shell.expect_exact('"msg": "Hello Tab"')
shell.expect_exact("micro> ")

shell.sendline("frobnicate")
shell.expect_exact("unknown command")
shell.expect_exact("micro> ")

shell.sendline("exit")
shell.expect(pexpect.EOF)
shell.close()
if shell.exitstatus != 0:
    sys.exit(f"micro cli exited with {shell.exitstatus}")
print("shell ok")
