(function () {
  "use strict";
  // All data is untrusted: it reaches the page only through textContent and createElement.
  // The case data is one JSON block; a large report embeds it gzip-compressed and base64-encoded
  // (data-encoding="gzip+base64"), inflated here with the browser's own DecompressionStream.
  var block = document.getElementById("llmgate-data");
  var encoding = block.dataset.encoding || "";

  function inflate(text) {
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  function loadFailed(message) {
    var body = document.getElementById("cases-body");
    var row = document.createElement("tr");
    var cell = document.createElement("td");
    cell.className = "muted";
    cell.textContent = message;
    row.appendChild(cell);
    body.replaceChildren(row);
    document.body.dataset.ready = "error";
  }

  if (encoding === "") {
    start(JSON.parse(block.textContent));
  } else if (encoding !== "gzip+base64") {
    loadFailed("The case data has an unknown encoding (" + encoding + "); re-render the report with this version of pytest-llmgate.");
  } else if (typeof DecompressionStream !== "function") {
    loadFailed("This browser cannot decompress the case data (it needs DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or later).");
  } else {
    Promise.resolve(block.textContent).then(inflate).then(JSON.parse).then(start, function (error) {
      loadFailed("The case data could not be read (" + error + "); re-render the report.");
    });
  }

  function start(DATA) {
    var CASES = DATA.cases;
    var STRINGS = DATA.strings;
    // Long texts are indices into DATA.strings (each distinct text stored once).
    function S(i) { return i === null || i === undefined ? null : STRINGS[i]; }
    var AGAINST = DATA.against;
    var TAG_LABELS = {
      regressed: "regressed", newly_failing: "newly failing", known_failing: "known failing",
      fixed: "fixed", improved: "improved", judge_inconsistent: "judge inconsistent", judge_error: "judge error"
    };
    var TAG_RANK = { newly_failing: 0, regressed: 1, judge_error: 2, known_failing: 3, judge_inconsistent: 4, improved: 5, fixed: 6 };
    var DIFF_LIMIT = 4000000; // cells of the LCS table; larger diffs fall back to lines, then to none
    var SEARCH_FIELD_LIMIT = 20000;

    function el(tag, cls, text) {
      var node = document.createElement(tag);
      if (cls) node.className = cls;
      if (text !== undefined && text !== null) node.textContent = String(text);
      return node;
    }
    function fmt(v, digits) {
      if (v === null || v === undefined) return "—";
      if (typeof v !== "number") return String(v);
      return v.toFixed(digits === undefined ? 3 : digits);
    }
    function signed(v) {
      if (v === null || v === undefined) return "—";
      if (Math.abs(v) < 1e-9) return "0.000";
      return (v > 0 ? "+" : "−") + Math.abs(v).toFixed(3);
    }
    function higher(c, metric) {
      var d = DATA.directions[c.s];
      return !d || d[metric] === undefined ? true : d[metric];
    }
    function tagRank(c) {
      var best = 99;
      for (var i = 0; i < c.tags.length; i++) best = Math.min(best, TAG_RANK[c.tags[i]]);
      return best;
    }

    // ---------------------------------------------------------------- columns
    var COLUMNS = [
      { key: "s", label: "Suite", value: function (c) { return c.s; } },
      { key: "id", label: "Case", value: function (c) { return c.id; } },
      { key: "ok", label: "Checks", value: function (c) { return c.ok ? 1 : 0; } },
      { key: "tags", label: "Status", value: function (c) { return c.tags.length ? tagRank(c) : null; } },
      { key: "worst", label: "Worst Δ (primary)", value: function (c) { return c.worst; } }
    ];
    var SHOWN = DATA.primary || DATA.metrics;
    SHOWN.forEach(function (m) {
      COLUMNS.push({ key: "m:" + m, label: m, metric: m, value: function (c) { var v = c.m[m]; return v === undefined ? null : v; } });
    });

    // ---------------------------------------------------------------- state
    var state = { status: "", suite: "", query: "", sortKey: null, sortDir: 1, page: 0, size: 50, rows: CASES, selected: null };
    var haystacks = null;

    function haystack(i) {
      if (haystacks === null) haystacks = new Array(CASES.length);
      var h = haystacks[i];
      if (h === undefined) {
        var c = CASES[i];
        var parts = [c.id, c.s, c.node, S(c.fail), S(c.in), S(c.ref), S(c.out)];
        for (var j = 0; j < c.j.length; j++) {
          for (var k = 0; k < c.j[j].calls.length; k++) parts.push(S(c.j[j].calls[k].reason));
        }
        h = parts.map(function (p) { return p ? String(p).slice(0, SEARCH_FIELD_LIMIT) : ""; }).join("\n").toLowerCase();
        haystacks[i] = h;
      }
      return h;
    }

    function applyFilters() {
      var q = state.query.toLowerCase();
      var rows = [];
      for (var i = 0; i < CASES.length; i++) {
        var c = CASES[i];
        if (state.suite && c.s !== state.suite) continue;
        if (state.status && c.tags.indexOf(state.status) < 0) continue;
        if (q && haystack(i).indexOf(q) < 0) continue;
        rows.push(c);
      }
      if (state.sortKey !== null) {
        var col = COLUMNS.filter(function (x) { return x.key === state.sortKey; })[0];
        var dir = state.sortDir;
        var keyed = rows.map(function (c, idx) { return [col.value(c), idx, c]; });
        keyed.sort(function (a, b) {
          var x = a[0], y = b[0];
          if (x === null && y === null) return a[1] - b[1];
          if (x === null) return 1; // missing values last, whatever the direction
          if (y === null) return -1;
          if (x < y) return -dir;
          if (x > y) return dir;
          return a[1] - b[1];
        });
        rows = keyed.map(function (k) { return k[2]; });
      }
      state.rows = rows;
      var pages = Math.max(1, Math.ceil(rows.length / state.size));
      if (state.page >= pages) state.page = pages - 1;
    }

    // ---------------------------------------------------------------- table
    function renderHead() {
      var head = document.getElementById("cases-head");
      var tr = el("tr");
      COLUMNS.forEach(function (col) {
        var th = el("th", null, col.label);
        th.setAttribute("scope", "col");
        th.setAttribute("tabindex", "0");
        th.dataset.key = col.key;
        if (state.sortKey === col.key) th.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
        var activate = function () {
          if (state.sortKey === col.key) state.sortDir = -state.sortDir;
          else { state.sortKey = col.key; state.sortDir = 1; }
          state.page = 0;
          refresh();
        };
        th.addEventListener("click", activate);
        th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); activate(); } });
        tr.appendChild(th);
      });
      head.replaceChildren(tr);
    }

    function metricCell(c, m) {
      var td = el("td", "num");
      var v = c.m[m];
      td.appendChild(document.createTextNode(v === undefined ? "—" : fmt(v)));
      if (v !== undefined && c.b && c.b[m] !== undefined) {
        var d = v - c.b[m];
        if (Math.abs(d) > 1e-9) {
          var good = higher(c, m) ? d > 0 : d < 0;
          td.appendChild(el("span", "delta " + (good ? "better" : "worse"), signed(d)));
        }
      }
      return td;
    }

    function renderBody() {
      var body = document.getElementById("cases-body");
      var start = state.page * state.size;
      var slice = state.rows.slice(start, start + state.size);
      var frag = document.createDocumentFragment();
      slice.forEach(function (c) {
        var tr = el("tr");
        tr.setAttribute("tabindex", "0");
        if (state.selected === c) tr.className = "selected";
        tr.appendChild(el("td", null, c.s));
        tr.appendChild(el("td", "id", c.id));
        var chk = el("td");
        chk.appendChild(el("span", "badge " + (c.ok ? "ok" : "bad"), c.ok ? "pass" : "fail"));
        tr.appendChild(chk);
        var tags = el("td");
        var box = el("div", "tags");
        c.tags.forEach(function (t) { box.appendChild(el("span", "badge tag-" + t, TAG_LABELS[t] || t)); });
        tags.appendChild(box);
        tr.appendChild(tags);
        var worst = el("td", "num worst", c.worst === null ? "—" : signed(c.worst));
        if (c.wm) { worst.appendChild(el("span", "muted metric-name", " " + c.wm)); worst.title = c.wm; }
        tr.appendChild(worst);
        SHOWN.forEach(function (m) { tr.appendChild(metricCell(c, m)); });
        var open = function () { showDetail(c); };
        tr.addEventListener("click", open);
        tr.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); open(); } });
        frag.appendChild(tr);
      });
      if (!slice.length) {
        var empty = el("tr");
        var td = el("td", "muted", "No case matches.");
        td.colSpan = COLUMNS.length;
        empty.appendChild(td);
        frag.appendChild(empty);
      }
      body.replaceChildren(frag);
      var pages = Math.max(1, Math.ceil(state.rows.length / state.size));
      document.getElementById("p-info").textContent = "Page " + (state.page + 1) + " of " + pages;
      document.getElementById("p-prev").disabled = state.page <= 0;
      document.getElementById("p-next").disabled = state.page >= pages - 1;
      document.getElementById("f-count").textContent = state.rows.length + " of " + CASES.length + " cases";
    }

    function refresh() {
      applyFilters();
      renderHead();
      renderBody();
    }

    // ---------------------------------------------------------------- diff
    function tokenize(text, mode) {
      if (mode === "lines") return text.split(/(?<=\n)/);
      return text.split(/(\s+)/).filter(function (t) { return t.length > 0; });
    }

    // Longest common subsequence on tokens, after trimming the common prefix and suffix.
    // Returns [[op, text], ...] with op "=", "-" (only before) or "+" (only now), or null if too large.
    function diffTokens(a, b) {
      var pre = 0;
      while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
      var suf = 0;
      while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
      var A = a.slice(pre, a.length - suf), B = b.slice(pre, b.length - suf);
      var n = A.length, m = B.length;
      if ((n + 1) * (m + 1) > DIFF_LIMIT) return null;
      var w = m + 1;
      var t = new Uint32Array((n + 1) * w);
      for (var i = n - 1; i >= 0; i--) {
        for (var j = m - 1; j >= 0; j--) {
          t[i * w + j] = A[i] === B[j] ? t[(i + 1) * w + j + 1] + 1 : Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
        }
      }
      var ops = [];
      function push(op, text) {
        if (ops.length && ops[ops.length - 1][0] === op) ops[ops.length - 1][1] += text;
        else ops.push([op, text]);
      }
      if (pre) push("=", a.slice(0, pre).join(""));
      var x = 0, y = 0;
      while (x < n && y < m) {
        if (A[x] === B[y]) { push("=", A[x]); x++; y++; }
        else if (t[(x + 1) * w + y] >= t[x * w + y + 1]) { push("-", A[x]); x++; }
        else { push("+", B[y]); y++; }
      }
      while (x < n) push("-", A[x++]);
      while (y < m) push("+", B[y++]);
      if (suf) push("=", a.slice(a.length - suf).join(""));
      return ops;
    }

    function sideBySide(before, now, mode) {
      var grid = el("div", "sbs");
      var left = el("div"), right = el("div");
      left.appendChild(el("h4", null, AGAINST === "before" ? "Output before" : "Baseline output"));
      right.appendChild(el("h4", null, "Output now"));
      var preL = el("pre", "box out-before"), preR = el("pre", "box out-now");
      preL.dataset.role = "output-before";
      preR.dataset.role = "output-now";
      var note = null;
      var ops = null;
      if (mode !== "off") {
        ops = diffTokens(tokenize(before, mode), tokenize(now, mode));
        if (ops === null && mode === "words") {
          ops = diffTokens(tokenize(before, "lines"), tokenize(now, "lines"));
          if (ops !== null) note = "Too many words to diff word by word; diffed by line.";
        }
        if (ops === null) note = "Outputs too large to diff; shown side by side.";
      }
      if (ops === null) {
        preL.textContent = before;
        preR.textContent = now;
      } else {
        ops.forEach(function (op) {
          if (op[0] === "=") {
            preL.appendChild(document.createTextNode(op[1]));
            preR.appendChild(document.createTextNode(op[1]));
          } else if (op[0] === "-") {
            preL.appendChild(el("span", "del", op[1]));
          } else {
            preR.appendChild(el("span", "ins", op[1]));
          }
        });
      }
      left.appendChild(preL);
      right.appendChild(preR);
      grid.appendChild(left);
      grid.appendChild(right);
      var wrap = el("div");
      if (note) wrap.appendChild(el("p", "truncated-note", note));
      wrap.appendChild(grid);
      return wrap;
    }

    // ---------------------------------------------------------------- detail
    function section(parent, title) {
      parent.appendChild(el("h3", null, title));
    }
    function pre(parent, text, role) {
      var p = el("pre", "box", text);
      if (role) p.dataset.role = role;
      parent.appendChild(p);
      return p;
    }
    function table(parent, headers, rows) {
      var t = el("table");
      var tr = el("tr");
      headers.forEach(function (h) { tr.appendChild(el("th", null, h)); });
      var thead = el("thead");
      thead.appendChild(tr);
      t.appendChild(thead);
      var tbody = el("tbody");
      rows.forEach(function (r) {
        var row = el("tr");
        r.forEach(function (cell) {
          if (cell instanceof Node) { var td = el("td"); td.appendChild(cell); row.appendChild(td); }
          else row.appendChild(el("td", null, cell));
        });
        tbody.appendChild(row);
      });
      t.appendChild(tbody);
      parent.appendChild(t);
      return t;
    }

    var diffMode = "words";

    // A pointwise answer is a point on the rubric's scale (3/5); the metric is its place on
    // that scale, (answer - lowest) / (highest - lowest), so 1 on 1-5 is 0.000 and 5 is 1.000.
    function point(score, top) {
      var shown = Number.isInteger(score) ? String(score) : String(Math.round(score * 100) / 100);
      return top !== null && top !== undefined ? shown + "/" + top : shown;
    }
    function verdictSummary(v) {
      if (v.top !== null && v.top !== undefined && v.label)
        return v.metric + " = " + fmt(v.value) + " (answer " + v.label + " on the rubric's scale)";
      return v.metric + " = " + fmt(v.value) + (v.label ? " (" + v.label + ")" : "");
    }
    function verdictBody(block, v) {
      if (v.error !== null) pre(block, S(v.error), "judge-error");
      if (v.calls.length) {
        table(block, ["Order", v.top !== null && v.top !== undefined ? "Answer (scale point)" : "Answer", "Reason", "Cached", "Attempts", "Tokens in / out", "Error"], v.calls.map(function (call) {
          var answer = call.preference !== null ? "prefers " + call.preference : call.score !== null ? (v.kind === "pointwise" ? point(call.score, v.top) : fmt(call.score)) : "—";
          return [call.order, answer, S(call.reason), call.cached ? "yes" : "no", String(call.attempts),
            call.tokens_in + " / " + call.tokens_out, S(call.error) || ""];
        }));
      }
      if (v.claims) {
        if (!v.claims.length) block.appendChild(el("p", "muted", "No checkable claim in the answer (counted as \u201cno claims\u201d, not scored)."));
        else table(block, ["Claim", "Verdict", "Reason"], v.claims.map(function (cl) {
          return [S(cl[0]), cl[1], S(cl[2])];
        })).dataset.role = "claims";
      }
    }

    function showDetail(c) {
      state.selected = c;
      var box = document.getElementById("detail");
      box.replaceChildren();
      box.hidden = false;
      var head = el("div", "detail-head");
      var title = el("div");
      var h = el("h3", null, c.s + " · " + c.id);
      h.id = "detail-title";
      title.appendChild(h);
      title.appendChild(el("div", "muted", c.node));
      var tags = el("div", "tags");
      tags.appendChild(el("span", "badge " + (c.ok ? "ok" : "bad"), c.ok ? "checks pass" : "checks fail"));
      c.tags.forEach(function (t) { tags.appendChild(el("span", "badge tag-" + t, TAG_LABELS[t] || t)); });
      title.appendChild(tags);
      head.appendChild(title);
      var close = el("button", null, "Close");
      close.type = "button";
      close.id = "detail-close";
      close.addEventListener("click", function () { box.hidden = true; state.selected = null; renderBody(); });
      head.appendChild(close);
      box.appendChild(head);

      if (c.conv) {
        section(box, "Conversation");
        var conv = el("div", "conversation");
        conv.dataset.role = "conversation";
        c.conv.forEach(function (turn) {
          var t = el("div", "turn turn-" + turn[0]);
          t.appendChild(el("div", "turn-role", turn[0]));
          t.appendChild(el("pre", "box", S(turn[1])));
          conv.appendChild(t);
        });
        box.appendChild(conv);
      } else {
        section(box, "Input");
        pre(box, c.in === null ? "(no input field)" : S(c.in), "input");
      }
      if (c.ref !== null) { section(box, "Reference"); pre(box, S(c.ref), "reference"); }
      if (c.case !== null) { section(box, "Other case fields"); pre(box, S(c.case), "case"); }

      section(box, "Output");
      if (c.bout === null) {
        box.appendChild(el("p", "muted", "No " + AGAINST + " output for this case."));
        pre(box, S(c.out), "output-now");
      } else {
        var controls = el("label", null, "Diff ");
        var sel = el("select");
        sel.id = "diff-mode";
        ["words", "lines", "off"].forEach(function (m) {
          var o = el("option", null, m);
          o.value = m;
          if (m === diffMode) o.selected = true;
          sel.appendChild(o);
        });
        controls.appendChild(sel);
        box.appendChild(controls);
        var holder = el("div");
        holder.appendChild(sideBySide(S(c.bout), S(c.out), diffMode));
        box.appendChild(holder);
        sel.addEventListener("change", function () {
          diffMode = sel.value;
          holder.replaceChildren(sideBySide(S(c.bout), S(c.out), diffMode));
        });
      }

      section(box, "Checks");
      box.appendChild(el("p", null, c.ok ? "All checks passed." : "Checks failed."
        + (c.bok === null ? "" : c.bok ? " They passed in the " + AGAINST + "." : " They failed in the " + AGAINST + " too.")));
      if (c.fail !== null) pre(box, S(c.fail), "failure");
      var names = Object.keys(c.m);
      if (c.b) Object.keys(c.b).forEach(function (k) { if (names.indexOf(k) < 0) names.push(k); });
      names.sort();
      if (names.length) {
        table(box, ["Metric", AGAINST === "before" ? "Before" : "Baseline", "Now", "Δ"], names.map(function (m) {
          var now = c.m[m], was = c.b ? c.b[m] : undefined;
          var d = now !== undefined && was !== undefined ? signed(now - was) : "—";
          return [m, was === undefined ? "—" : fmt(was), now === undefined ? "—" : fmt(now), d];
        })).dataset.role = "case-metrics";
      }

      if (c.ret) {
        section(box, "Retrieval");
        if (c.ret.ranks.length) {
          table(box, ["Relevant id", "Rank"], c.ret.ranks.map(function (r) {
            return [r[0], r[1] === null ? "not retrieved" : String(r[1])];
          })).dataset.role = "retrieval";
        }
        if (c.ret.retrieved.length) {
          var relevant = {};
          c.ret.ranks.forEach(function (r) { relevant[r[0]] = true; });
          box.appendChild(el("div", "muted", "Retrieved, in order (relevant in bold):"));
          var ol = el("ol", "retrieved");
          c.ret.retrieved.forEach(function (id) { ol.appendChild(el("li", relevant[id] ? "relevant" : null, id)); });
          box.appendChild(ol);
        }
      }

      if (c.j.length) {
        section(box, "Judge");
        if (c.j.some(function (v) { return v.top !== null && v.top !== undefined; }))
          box.appendChild(el("p", "muted", "A pointwise answer is a point on the rubric's scale (e.g. 1/5); its metric is the answer's place on that scale, (answer \u2212 lowest) / (highest \u2212 lowest): 1 on 1\u20135 is 0.000, 3 is 0.500, 5 is 1.000."));
        c.j.forEach(function (v) {
          var block = el("div", "verdict-block");
          block.dataset.role = "verdict";
          var line = el("div");
          line.appendChild(el("strong", null, v.rubric));
          line.appendChild(document.createTextNode(" v" + v.version + " · " + v.kind + (v.against ? " vs " + v.against : "")
            + " · " + verdictSummary(v) + " · " + v.provider + " "));
          if (v.consistent === false) line.appendChild(el("span", "badge tag-judge_inconsistent", "orders disagree"));
          if (v.consistent === true) line.appendChild(el("span", "badge ok", "orders agree"));
          if (v.error !== null) line.appendChild(el("span", "badge tag-judge_error", "error"));
          block.appendChild(line);
          verdictBody(block, v);
          if (v.ctx && v.ctx.length) {
            var det = el("details", "judge-context");
            det.dataset.role = "judge-context";
            det.appendChild(el("summary", null, "Context the judge saw (" + v.ctx.length + " chunk" + (v.ctx.length === 1 ? "" : "s") + ")"));
            v.ctx.forEach(function (i, n) {
              det.appendChild(el("div", "muted", "context_" + (n + 1)));
              det.appendChild(el("pre", "box", S(i)));
            });
            block.appendChild(det);
          }
          if (v.jury) {
            block.appendChild(el("div", "muted", "Every judge's verdict:"));
            v.jury.forEach(function (m) {
              var sub = el("div", "verdict-block juror");
              sub.dataset.role = "juror";
              sub.appendChild(el("div", null, m.provider + ": " + verdictSummary(m)));
              verdictBody(sub, m);
              block.appendChild(sub);
            });
          }
          box.appendChild(block);
        });
      }

      if (c.det !== null) { section(box, "Details"); pre(box, S(c.det), "details"); }
      renderBody();
      box.scrollIntoView({ block: "start" });
    }

    // ---------------------------------------------------------------- wiring
    var searchTimer = null;
    document.getElementById("f-status").addEventListener("change", function (e) { state.status = e.target.value; state.page = 0; refresh(); });
    document.getElementById("f-suite").addEventListener("change", function (e) { state.suite = e.target.value; state.page = 0; refresh(); });
    document.getElementById("f-search").addEventListener("input", function (e) {
      clearTimeout(searchTimer);
      var value = e.target.value;
      searchTimer = setTimeout(function () { state.query = value; state.page = 0; refresh(); }, 120);
    });
    document.getElementById("p-prev").addEventListener("click", function () { state.page -= 1; renderBody(); });
    document.getElementById("p-next").addEventListener("click", function () { state.page += 1; renderBody(); });
    document.getElementById("p-size").addEventListener("change", function (e) {
      state.size = parseInt(e.target.value, 10);
      state.page = 0;
      refresh();
    });

    refresh();
    document.body.dataset.ready = "1";
    window.__llmgateReady = performance.now();
  }
})();
