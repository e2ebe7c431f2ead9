// The overview: filter the services as you type; refresh the list when the registry changes.
"use strict";

const search = document.getElementById("search");
const list = document.getElementById("services");

function applyFilter() {
  const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  for (const item of list.querySelectorAll("li[data-name]")) {
    const name = item.dataset.name.toLowerCase();
    item.hidden = !words.every((w) => name.includes(w));
  }
}

search.addEventListener("input", applyFilter);

const refresh = debounce(async () => {
  const response = await fetch("/?fragment=services");
  if (!response.ok) return;
  list.innerHTML = await response.text();
  applyFilter();
}, 100);

followRegistry(refresh);
