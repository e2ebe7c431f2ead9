// A service page: refresh the versions and nodes when the registry says this service changed.
"use strict";

const title = document.getElementById("name");
const versions = document.getElementById("versions");

if (title && versions) {
  const name = title.dataset.name;
  const refresh = debounce(async () => {
    const response = await fetch(`/service/${encodeURIComponent(name)}?fragment=versions`);
    versions.innerHTML = response.ok ? await response.text() : "<p class=\"error\">No nodes are registered now.</p>";
  }, 100);
  followRegistry((change) => { if (change.service === name) refresh(); });
}
