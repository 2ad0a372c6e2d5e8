"use strict";
// Every piece of data from the server is set with textContent or value: case data is untrusted.
(function () {
  const token = document.querySelector('meta[name="llmgate-token"]').content;
  const $ = (id) => document.getElementById(id);
  let cases = [];
  let pos = 0;

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

  // A conversation is shown turn by turn (role, then what was said); any other input as text.
  function showInput(c) {
    const box = $("input");
    box.replaceChildren();
    const turns = c.turns || [{ role: null, content: c.input }];
    turns.forEach((turn) => {
      const item = document.createElement("div");
      item.className = turn.role ? "turn turn-" + turn.role : "turn";
      if (turn.role) {
        const role = document.createElement("div");
        role.className = "role";
        role.textContent = turn.role;
        item.append(role);
      }
      const said = document.createElement("pre");
      said.textContent = turn.content == null ? "" : String(turn.content);
      item.append(said);
      box.append(item);
    });
  }

  function show() {
    text("error", "");
    if (pos >= cases.length) {
      $("case").hidden = true;
      $("done").hidden = false;
      text("progress", "0 pending");
      return;
    }
    const c = cases[pos];
    $("done").hidden = true;
    $("case").hidden = false;
    text("progress", (pos + 1) + " of " + cases.length + " pending");
    text("case-id", c.id);
    text("tags", c.tags.join(", "));
    showInput(c);
    $("seen-box").hidden = !c.seen_output;
    text("seen-output", c.seen_output);
    $("source-reference-box").hidden = !c.source_reference;
    text("source-reference", c.source_reference);
    text("provenance", c.provenance);
    $("reference").value = c.reference;
    $("relevant-ids").value = c.relevant_ids.join(", ");
    const list = $("tools");
    list.replaceChildren();
    c.candidate_tool_calls.forEach((call, i) => {
      const item = document.createElement("li");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = "tool-" + i;
      box.dataset.index = String(i);
      const label = document.createElement("label");
      label.htmlFor = box.id;
      label.textContent = call.name + " " + JSON.stringify(call.arguments);
      item.append(box, label);
      list.append(item);
    });
    $("tools-box").hidden = c.candidate_tool_calls.length === 0;
    $("reference").focus();
  }

  async function act(path, body, verb) {
    try {
      const result = await api(path, body);
      text("status", verb + " " + result.id);
      cases.splice(pos, 1);
      show();
    } catch (err) {
      text("error", err.message);
    }
  }

  $("approve").addEventListener("click", () => {
    const c = cases[pos];
    const ids = $("relevant-ids").value.split(",").map((s) => s.trim()).filter((s) => s);
    const tools = Array.from(document.querySelectorAll("#tools input:checked")).map((b) => Number(b.dataset.index));
    act("/api/approve", { id: c.id, reference: $("reference").value, relevant_ids: ids, tool_calls: tools }, "approved");
  });
  $("reject").addEventListener("click", () => act("/api/reject", { id: cases[pos].id }, "rejected"));
  $("skip").addEventListener("click", () => { pos = (pos + 1) % Math.max(cases.length, 1); show(); });

  api("/api/state").then((state) => {
    text("file", state.file);
    cases = state.cases;
    show();
  }).catch((err) => text("error", err.message));
})();
