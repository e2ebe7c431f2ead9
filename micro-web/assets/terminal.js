// The terminal: each line runs as the micro CLI's command on the dashboard (POST
// /terminal/run); up and down walk the history, Tab completes the last word.
"use strict";

const screen = document.getElementById("screen");
const input = document.getElementById("line");
const history = [];
let position = 0;

function print(text) {
  screen.textContent += text.endsWith("\n") || text === "" ? text : text + "\n";
  screen.scrollTop = screen.scrollHeight;
}

async function run(line) {
  print("micro> " + line);
  if (line.trim() === "clear") { screen.textContent = ""; return; }
  const result = await postJSON("/terminal/run", { line });
  print(result.json ? result.json.output : result.text);
}

// The longest text every word starts with.
function common(words) {
  return words.reduce((prefix, word) => {
    let i = 0;
    while (i < prefix.length && i < word.length && prefix[i] === word[i]) i += 1;
    return prefix.slice(0, i);
  });
}

async function complete() {
  const line = input.value;
  const result = await postJSON("/terminal/complete", { line });
  const words = (result.json && result.json.completions) || [];
  if (words.length === 0) return;
  const start = line.search(/\S*$/);
  const replacement = words.length === 1 ? words[0] + " " : common(words);
  if (words.length > 1 && replacement.length <= line.length - start) {
    print("micro> " + line);
    print(words.join("  "));
  }
  input.value = line.slice(0, start) + replacement;
}

input.addEventListener("keydown", async (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    const line = input.value;
    input.value = "";
    if (line.trim()) { history.push(line); }
    position = history.length;
    input.disabled = true;
    try { await run(line); } finally { input.disabled = false; input.focus(); }
  } else if (event.key === "ArrowUp") {
    event.preventDefault();
    if (position > 0) { position -= 1; input.value = history[position]; }
  } else if (event.key === "ArrowDown") {
    event.preventDefault();
    if (position < history.length) { position += 1; input.value = history[position] || ""; }
  } else if (event.key === "Tab") {
    event.preventDefault();
    await complete();
  }
});

document.getElementById("terminal").addEventListener("click", () => input.focus());
