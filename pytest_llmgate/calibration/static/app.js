"use strict";
// Every piece of data from the server is set with textContent: outputs are untrusted.
(function () {
  const token = document.querySelector('meta[name="llmgate-token"]').content;
  const $ = (id) => document.getElementById(id);
  let state = null;
  let pos = -1;
  const skipped = new Set();
  let savedThisSession = 0;
  let queue = Promise.resolve();

  async function api(path, body) {
    const init = { headers: { "X-LLMGate-Token": token } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function text(id, value) { $(id).textContent = value == null ? "" : String(value); }

  function choiceName(choice) {
    if (state.rubric.kind !== "pairwise") return String(choice);
    return { first: "left output", second: "right output", tie: "tie" }[choice];
  }

  function keyFor(choice) {
    if (state.rubric.kind === "pairwise") return { first: "a", second: "b", tie: "t" }[choice];
    if (state.rubric.kind === "pass_fail") return choice === "pass" ? "p" : "f";
    return String(choice).length === 1 ? String(choice) : "";
  }

  function verdictText(verdict) {
    let line = "judge: " + (verdict.label == null ? String(verdict.value) : verdict.label);
    if (verdict.candidate_position) {
      line += " for the candidate, which was the " + (verdict.candidate_position === "first" ? "left" : "right") + " output";
    }
    if (verdict.consistent === false) line += " (the judge changed its mind when the order was swapped)";
    return line;
  }

  function nextOpen(from) {
    const items = state.items;
    const n = items.length;
    for (const allowSkipped of [false, true]) {
      for (let step = 1; step <= n; step++) {
        const i = (from + step) % n;
        if (items[i].saved === null && (allowSkipped || !skipped.has(i)) && (i !== from || step === n)) return i;
      }
    }
    return -1;
  }

  function render() {
    const items = state.items;
    const open = items.filter((item) => item.saved === null).length;
    text("progress",
      savedThisSession + " labeled this session, " + state.already_labeled + " earlier, " + open + " to go" +
      (state.stale ? " (" + state.stale + " stale label" + (state.stale === 1 ? "" : "s") + " of older outputs not counted)" : "") +
      (skipped.size ? " (" + skipped.size + " skipped)" : "") +
      (pos >= 0 ? " · item " + (pos + 1) + " of " + items.length : ""));
    $("done").hidden = pos >= 0;
    $("case").hidden = pos < 0;
    if (pos < 0) return;
    const item = items[pos];
    text("case-id", item.case_id);
    text("suite", item.suite);
    text("stratum", item.stratum === "uniform" ? "" : "stratum: " + item.stratum);
    text("input", item.input);
    text("reference", item.reference);
    $("reference-box").hidden = item.reference === "";
    const outputs = $("outputs");
    outputs.replaceChildren();
    item.outputs.forEach((output, i) => {
      const box = document.createElement("div");
      const title = document.createElement("h2");
      title.textContent = item.outputs.length === 1 ? "Output" : (i === 0 ? "Left output (a)" : "Right output (b)");
      const body = document.createElement("pre");
      body.className = "output";
      body.textContent = output;
      box.append(title, body);
      const rest = item.extras[i];
      if (rest) {
        // Retrieved ids, tool calls and other fields: there if wanted, folded so the answer reads first.
        const fold = document.createElement("details");
        fold.className = "output-rest";
        const summary = document.createElement("summary");
        summary.textContent = "Rest of the output (retrieved ids, tool calls, other fields)";
        const pre = document.createElement("pre");
        pre.textContent = rest;
        fold.append(summary, pre);
        box.append(fold);
      }
      outputs.append(box);
    });
    const choices = $("choices");
    choices.replaceChildren();
    state.rubric.choices.forEach((choice) => {
      const button = document.createElement("button");
      const key = keyFor(choice);
      button.textContent = choiceName(choice) + (key ? " [" + key + "]" : "");
      button.dataset.choice = String(choice);
      if (item.saved === choice) button.className = "chosen";
      button.addEventListener("click", () => enqueue(() => save(choice)));
      choices.append(button);
    });
    text("mine", item.saved === null ? "" : "your label: " + choiceName(item.saved));
    $("verdict").hidden = item.verdict === null;
    if (item.verdict) {
      text("verdict-label", verdictText(item.verdict));
      text("verdict-reasons", item.verdict.reasons.join("\n\n"));
    }
  }

  async function save(choice) {
    if (pos < 0) return;
    const item = state.items[pos];
    const result = await api("/api/label", { index: item.index, choice: choice });
    if (item.saved === null) savedThisSession += 1;
    item.saved = result.saved;
    item.verdict = result.verdict;
    skipped.delete(item.index);
    $("last").hidden = false;
    text("last-case", item.case_id);
    text("last-label", "you: " + choiceName(result.saved) + " · " + verdictText(result.verdict));
    text("last-reasons", result.verdict.reasons.join("\n\n"));
    pos = nextOpen(pos);
  }

  async function undo() {
    const result = await api("/api/undo", {});
    const item = state.items[result.index];
    if (item.saved !== null && result.saved === null) savedThisSession -= 1;
    item.saved = result.saved;
    item.verdict = result.verdict;
    $("last").hidden = true;
    pos = result.index;
  }

  function skip() {
    if (pos < 0) return;
    skipped.add(pos);
    const next = nextOpen(pos);
    if (next >= 0) pos = next;
  }

  function move(step) {
    const n = state.items.length;
    if (n === 0) return;
    pos = pos < 0 ? (step < 0 ? n - 1 : 0) : Math.min(n - 1, Math.max(0, pos + step));
  }

  function enqueue(action) {
    queue = queue.then(action).then(() => { text("error", ""); render(); }).catch((error) => {
      text("error", String(error.message || error));
      render();
    });
  }

  function choiceForKey(key) {
    const kind = state.rubric.kind;
    if (kind === "pairwise") return { a: "first", b: "second", t: "tie" }[key];
    if (kind === "pass_fail") return { p: "pass", f: "fail" }[key];
    if (/^[0-9]$/.test(key)) {
      const score = Number(key);
      return state.rubric.choices.includes(score) ? score : undefined;
    }
    return undefined;
  }

  document.addEventListener("keydown", (event) => {
    if (!state || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const choice = choiceForKey(key);
    if (choice !== undefined) enqueue(() => save(choice));
    else if (key === "s") enqueue(skip);
    else if (key === "u") enqueue(undo);
    else if (key === "ArrowRight") enqueue(() => move(1));
    else if (key === "ArrowLeft") enqueue(() => move(-1));
    else return;
    event.preventDefault();
  });

  async function start() {
    state = await api("/api/state");
    const kind = state.rubric.kind;
    text("rubric", "· " + state.rubric.name + " (" + kind + ") · " + state.labeler);
    text("rubric-name", state.rubric.name);
    text("criteria", state.rubric.criteria);
    const points = $("points");
    state.rubric.points.forEach((entry) => {
      const term = document.createElement("dt");
      term.textContent = String(entry[0]);
      const meaning = document.createElement("dd");
      meaning.textContent = entry[1];
      points.append(term, meaning);
    });
    $("rubric-box").hidden = !state.rubric.criteria && !state.rubric.points.length;
    const keys = kind === "pairwise" ? "a = left better, b = right better, t = tie"
      : kind === "pass_fail" ? "p = pass, f = fail" : "digits = score";
    text("help", "Keys: " + keys + ", s = skip, u = undo last label, ←/→ = previous/next. " +
      "Labels are saved at once to " + state.labels_path + ". The judge's verdict appears after you label.");
    pos = state.items.findIndex((item) => item.saved === null);
    render();
  }

  start().catch((error) => text("error", String(error.message || error)));
})();
