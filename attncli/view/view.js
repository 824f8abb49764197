// attncli's interactive page: head view, model view and the stage tables. Plain JavaScript and SVG/Canvas;
// every number comes from the data inlined by attncli (nothing is computed anew but sums of printed terms).
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("attn-data").textContent);
  var U = D.ui;
  // Okabe–Ito: distinguishable with every common form of colour blindness.
  var COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255"];
  var H = D.heads_per_layer;
  var state = {
    layer: D.selected[0], heads: [D.selected[1]], primary: D.selected[1], level: "pieces", focus: null, filter: "",
  };
  var SVG = "http://www.w3.org/2000/svg";

  function $(id) { return document.getElementById(id); }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }
  function el(tag, attrs, text) {
    var e = tag.indexOf("svg:") === 0 ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function block(l, h) { return D.blocks[l * H + h]; }
  function color(h) { return COLORS[h % COLORS.length]; }

  // ---- pieces or words ----------------------------------------------------------------------
  function wordLabel(group) {
    return group.map(function (i, n) {
      var p = D.labels.k[i];
      return n > 0 && p.indexOf("##") === 0 ? p.slice(2) : p;
    }).join("");
  }
  function units() {
    if (state.level === "words" && D.groups) {
      var words = D.words || D.groups.map(wordLabel);  // the words as written, when the page has them
      return { q: words, k: words, groups: D.groups };
    }
    return { q: D.labels.q, k: D.labels.k, groups: null };
  }
  function weightsOf(l, h) {
    var w = block(l, h).weights;
    var g = units().groups;
    if (!g) return w;
    return g.map(function (qa) {
      return g.map(function (kb) {
        var s = 0;
        qa.forEach(function (i) { kb.forEach(function (j) { s += w[i][j] || 0; }); });
        return s / qa.length;
      });
    });
  }

  // ---- head view ------------------------------------------------------------------------------
  var ROW = 22, LEFT = 190, RIGHT = 430, WIDTH = 620, TOP = 26;
  function layout() {  // a phone's width: the columns closer, so that the text stays readable
    var narrow = window.innerWidth < 640;
    LEFT = narrow ? 120 : 190;
    RIGHT = narrow ? 220 : 430;
    WIDTH = narrow ? 400 : 620;
  }
  function drawHeadView() {
    layout();
    var u = units(), nq = u.q.length, nk = u.k.length;
    var height = TOP + Math.max(nq, nk) * ROW + 8;
    var svg = el("svg:svg", { viewBox: "0 0 " + WIDTH + " " + height, role: "group", "aria-label": U.head_view });
    svg.appendChild(el("svg:text", { x: LEFT - 10, y: 14, "text-anchor": "end", class: "weight" }, U.queries));
    svg.appendChild(el("svg:text", { x: RIGHT + 10, y: 14, class: "weight" }, U.keys));
    var lines = el("svg:g", { class: "lines" });
    svg.appendChild(lines);
    var f = state.focus;
    state.heads.forEach(function (h) {
      var w = weightsOf(state.layer, h);
      for (var i = 0; i < nq; i++) {
        for (var j = 0; j < nk; j++) {
          var x = w[i][j];
          if (!x || x < 0.005) continue;
          if (f && !((f.side === "q" && f.index === i) || (f.side === "k" && f.index === j))) continue;
          lines.appendChild(el("svg:line", {
            x1: LEFT, y1: TOP + i * ROW + ROW / 2, x2: RIGHT, y2: TOP + j * ROW + ROW / 2,
            stroke: color(h), "stroke-width": 2, "stroke-opacity": Math.min(1, x).toFixed(4),
          }));
        }
      }
    });
    ["q", "k"].forEach(function (side) {
      u[side].forEach(function (label, i) {
        var g = el("svg:g", {
          class: "tok" + (isSpecial(i) ? " special" : "") + (f && f.side === side && f.index === i ? " on" : ""),
          tabindex: 0, role: "button", "data-side": side, "data-index": i, "aria-label": label,
        });
        var y = TOP + i * ROW;
        var x0 = side === "q" ? 4 : RIGHT + 4;
        var w = side === "q" ? LEFT - 8 : WIDTH - RIGHT - 8;
        g.appendChild(el("svg:rect", { class: "bg", x: x0, y: y + 1, width: w, height: ROW - 2, rx: 3 }));
        g.appendChild(el("svg:text", {
          x: side === "q" ? LEFT - 10 : RIGHT + 10, y: y + 15, "text-anchor": side === "q" ? "end" : "start",
        }, label));
        svg.appendChild(g);
      });
    });
    if (f) drawWeights(svg, u, f);
    var box = $("hv");
    box.textContent = "";
    box.appendChild(svg);
    svg.querySelectorAll(".tok").forEach(function (g) {
      var focus = function () { setFocus(g.getAttribute("data-side"), +g.getAttribute("data-index")); };
      g.addEventListener("mouseenter", focus);
      g.addEventListener("focus", focus);
      g.addEventListener("click", focus);
      g.addEventListener("keydown", tokenKeys);
    });
    svg.addEventListener("mouseleave", function () {
      if (!svg.contains(document.activeElement)) clearFocus();
    });
  }
  function isSpecial(i) { return state.level === "pieces" && D.special && D.special[i]; }

  // The exact weights of the focused token, beside the tokens on the other side (one per head, in its colour).
  function drawWeights(svg, u, f) {
    var other = f.side === "q" ? "k" : "q";
    if (state.heads.length === 1) {  // one head: its weights beside the tokens, too
      var h = state.heads[0], w = weightsOf(state.layer, h);
      u[other].forEach(function (label, j) {
        var x = f.side === "q" ? w[f.index][j] : w[j][f.index];
        svg.appendChild(el("svg:text", {
          class: "weight", x: other === "k" ? WIDTH - 4 : 8, y: TOP + j * ROW + 15,
          "text-anchor": other === "k" ? "end" : "start", fill: color(h),
        }, x === null ? "—" : String(x)));
      });
    }
    var table = el("table");
    var head = el("tr");
    head.appendChild(el("th", {}, ""));
    state.heads.forEach(function (h) { head.appendChild(el("th", { style: "color:" + color(h) }, fill(U.layer_head, { layer: state.layer + 1, head: h + 1 }))); });
    table.appendChild(head);
    u[other].forEach(function (label, j) {
      var tr = el("tr");
      tr.appendChild(el("th", {}, label));
      state.heads.forEach(function (h) {
        var w = weightsOf(state.layer, h);
        var x = f.side === "q" ? w[f.index][j] : w[j][f.index];
        tr.appendChild(el("td", { "data-head": h + 1, "data-other": j, class: "exact" }, x === null ? "—" : String(x)));
      });
      table.appendChild(tr);
    });
    var r = $("readout");
    r.textContent = "";
    var label = u[f.side][f.index];
    r.appendChild(el("p", {}, f.side === "q"
      ? fill(U.weight_of, { key: "…", query: label }) : fill(U.weight_of, { key: label, query: "…" })));
    r.appendChild(table);
  }
  function setFocus(side, index) {
    if (state.focus && state.focus.side === side && state.focus.index === index) return;
    var keyboard = $("hv").contains(document.activeElement);  // the drawing replaces the focused token
    state.focus = { side: side, index: index };
    drawHeadView();
    var g = $("hv").querySelector('.tok[data-side="' + side + '"][data-index="' + index + '"]');
    if (g && keyboard) g.focus();
  }
  function clearFocus() {
    state.focus = null;
    $("readout").textContent = "";
    drawHeadView();
  }
  function tokenKeys(e) {
    var side = this.getAttribute("data-side"), i = +this.getAttribute("data-index");
    var n = units()[side].length;
    var next = null;
    if (e.key === "ArrowDown") next = [side, Math.min(n - 1, i + 1)];
    else if (e.key === "ArrowUp") next = [side, Math.max(0, i - 1)];
    else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      var s = e.key === "ArrowRight" ? "k" : "q";
      next = [s, Math.min(units()[s].length - 1, i)];
    } else if (e.key === "Escape") { this.blur(); clearFocus(); return; }
    if (!next) return;
    e.preventDefault();
    state.focus = null;
    setFocus(next[0], next[1]);
    var g = $("hv").querySelector('.tok[data-side="' + next[0] + '"][data-index="' + next[1] + '"]');
    if (g) g.focus();
  }

  // ---- controls ---------------------------------------------------------------------------------
  function drawControls() {
    var sel = $("layer");
    sel.textContent = "";
    for (var l = 0; l < D.layers; l++) sel.appendChild(el("option", { value: l }, String(l + 1)));
    sel.value = state.layer;
    var box = $("head-buttons");
    box.querySelectorAll("button").forEach(function (b) { b.remove(); });
    for (var h = 0; h < H; h++) {
      var on = state.heads.indexOf(h) >= 0;
      var b = el("button", {
        type: "button", class: "headbtn", "data-head": h + 1, "aria-pressed": on ? "true" : "false",
        "aria-label": U.head + " " + (h + 1),
      }, String(h + 1));
      if (on) b.style.background = color(h);
      else b.style.borderColor = color(h);
      b.addEventListener("click", pickHead.bind(null, h));
      box.appendChild(b);
    }
  }
  function pickHead(h, e) {
    var several = $("several").checked || (e && (e.shiftKey || e.ctrlKey || e.metaKey));
    if (several) {
      var at = state.heads.indexOf(h);
      if (at >= 0 && state.heads.length > 1) state.heads.splice(at, 1);
      else if (at < 0) state.heads.push(h);
      state.primary = state.heads.indexOf(h) >= 0 ? h : state.heads[0];
    } else {
      state.heads = [h];
      state.primary = h;
    }
    redraw();
    var b = $("head-buttons").querySelector('button[data-head="' + (h + 1) + '"]');
    if (b) b.focus();
  }
  function redraw() {
    drawControls();
    drawHeadView();
    drawModelView();
    drawStages();
  }

  // ---- model view -------------------------------------------------------------------------------
  // A sequential scale from white to dark blue (readable without telling hues apart).
  function shade(x) {
    var t = Math.max(0, Math.min(1, x || 0));
    var a = [247, 251, 255], b = [8, 48, 107];
    return a.map(function (c, i) { return Math.round(c + (b[i] - c) * Math.sqrt(t)); });
  }
  // The run's role scores (--roles) or head search (--query --key), offered as highlights of the grid.
  function filters() {
    var A = D.analysis || {}, out = [];
    Object.keys(A.roles || {}).forEach(function (r) {
      out.push({
        id: "role:" + r, name: fill(U.role_filter, { role: A.role_names[r] }), help: A.role_help[r],
        score: function (l, h) { return A.roles[r][l][h]; }, extra: function () { return ""; },
      });
    });
    if (A.search) {
      var by = {};
      A.search.heads.forEach(function (x) { by[(x.layer - 1) + "." + (x.head - 1)] = x; });
      out.push({
        id: "search", name: fill(U.search_filter, { query: A.search.query, key: A.search.key }),
        help: fill(U.search_help, { query: A.search.query, key: A.search.key }),
        score: function (l, h) { var x = by[l + "." + h]; return x ? x.weight : null; },
        extra: function (l, h) {
          var x = by[l + "." + h];
          return x ? " · " + fill(U.search_rank, { rank: x.rank, n: A.search.keys }) : "";
        },
      });
    }
    return out;
  }
  function activeFilter() {
    var id = state.filter;
    return filters().filter(function (f) { return f.id === id; })[0] || null;
  }
  function ranked(f) {  // every head with a score, the highest first (ties: layer, then head)
    var all = [];
    for (var l = 0; l < D.layers; l++) {
      for (var h = 0; h < H; h++) {
        var x = f.score(l, h);
        if (x !== null && x !== undefined) all.push({ l: l, h: h, s: x });
      }
    }
    return all.sort(function (a, b) { return b.s - a.s || a.l - b.l || a.h - b.h; });
  }
  function drawFilter() {
    var f = activeFilter(), list = $("mv-top");
    list.textContent = "";
    list.hidden = !f;
    $("mv-filter-help").hidden = !f;
    if (!f) return;
    $("mv-filter-help").textContent = f.help + " " + U.filter_help;
    ranked(f).slice(0, 5).forEach(function (x) {
      var li = el("li");
      var b = el("button", { type: "button", "data-layer": x.l + 1, "data-head": x.h + 1, "data-score": String(x.s) },
        fill(U.layer_head, { layer: x.l + 1, head: x.h + 1 }) + ": " + x.s.toFixed(2) + f.extra(x.l, x.h));
      b.addEventListener("click", openHead.bind(null, x.l, x.h));
      li.appendChild(b);
      list.appendChild(li);
    });
  }
  function drawModelView() {
    var f = activeFilter(), order = f ? ranked(f) : [], top = {}, most = 0;
    order.slice(0, 3).forEach(function (x) { top[x.l + "." + x.h] = true; });
    order.forEach(function (x) { most = Math.max(most, x.s); });
    drawFilter();
    var box = $("grid");
    box.textContent = "";
    var table = el("table");
    var head = el("tr");
    head.appendChild(el("th", {}, ""));
    for (var h = 0; h < H; h++) head.appendChild(el("th", { scope: "col" }, U.head + " " + (h + 1)));
    table.appendChild(head);
    for (var l = 0; l < D.layers; l++) {
      var tr = el("tr");
      tr.appendChild(el("th", { scope: "row" }, U.layer + " " + (l + 1)));
      for (h = 0; h < H; h++) {
        var td = el("td");
        var b = el("button", {
          type: "button", class: "cellbtn" + (l === state.layer && h === state.primary ? " sel" : ""),
          "data-layer": l + 1, "data-head": h + 1, "aria-label": fill(U.open_head, { layer: l + 1, head: h + 1 }),
          title: fill(U.layer_head, { layer: l + 1, head: h + 1 }),
        });
        b.appendChild(thumbnail(block(l, h).weights));
        if (f) {
          var x = f.score(l, h);
          if (x === null || x === undefined) {
            b.style.opacity = "0.3";
          } else {
            b.appendChild(el("span", { class: "score", "data-score": String(x) }, x.toFixed(2)));
            b.style.opacity = String(0.3 + 0.7 * (most > 0 ? x / most : 0));
            if (top[l + "." + h]) b.className += " top";
            b.setAttribute("aria-label", b.getAttribute("aria-label") + ": " + f.name + " " + x.toFixed(2) + f.extra(l, h));
          }
        }
        b.addEventListener("click", openHead.bind(null, l, h));
        td.appendChild(b);
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
    box.appendChild(table);
  }
  function thumbnail(w) {
    var c = el("canvas", { width: w[0].length, height: w.length });
    var ctx = c.getContext("2d");
    var img = ctx.createImageData(w[0].length, w.length);
    for (var i = 0; i < w.length; i++) {
      for (var j = 0; j < w[0].length; j++) {
        var rgb = shade(w[i][j]), at = (i * w[0].length + j) * 4;
        img.data[at] = rgb[0]; img.data[at + 1] = rgb[1]; img.data[at + 2] = rgb[2]; img.data[at + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    return c;
  }
  function openHead(l, h) {
    state.layer = l;
    state.heads = [h];
    state.primary = h;
    state.focus = null;
    redraw();
    $("head-view").scrollIntoView();
    var b = $("head-buttons").querySelector('button[data-head="' + (h + 1) + '"]');
    if (b) b.focus({ preventScroll: true });
  }

  // ---- the stage tables -------------------------------------------------------------------------
  // A printed cell from its compact form (attncli.serialize.view.compact): digits without the point, or "=text".
  function printed(code) {
    if (code.charAt(0) === "=") return code.slice(1);
    var n = parseInt(code, 10), p = D.precision;
    return p === 0 ? String(n) : (n / Math.pow(10, p)).toFixed(p);
  }
  function decodeRow(text) { return text.split(" ").map(printed); }
  var cache = new WeakMap();
  function cellsOf(t) {
    if (!cache.has(t)) cache.set(t, t.cells.map(decodeRow));
    return cache.get(t);
  }
  function value(text) { return text === "−∞" ? -Infinity : parseFloat(text); }
  function drawStages() {
    var b = block(state.layer, state.primary);
    var box = $("tables");
    box.textContent = "";
    $("st-title").textContent = U.stages + " · " + fill(U.layer_head, { layer: b.layer + 1, head: b.head + 1 });
    var byName = {};
    b.tables.forEach(function (t) { byName[t.name] = t; });
    b.tables.forEach(function (t) {
      var fig = el("div", { class: "stage", "data-table": t.name });
      fig.appendChild(el("div", { class: "ttl" }, t.title));
      var rows = D.labels[t.rows], cols = t.cols === "d" ? null : D.labels[t.cols];
      var cells = cellsOf(t);
      var table = el("table");
      var head = el("tr");
      head.appendChild(el("th", {}, ""));
      cells[0].forEach(function (_, j) { head.appendChild(el("th", { scope: "col" }, cols ? cols[j] : "d" + (j + 1))); });
      if (t.extra) head.appendChild(el("th", { scope: "col" }, t.extra.name));
      var thead = el("thead");
      thead.appendChild(head);
      table.appendChild(thead);
      var body = el("tbody");
      cells.forEach(function (row, i) {
        var tr = el("tr");
        tr.appendChild(el("th", { scope: "row" }, rows[i]));
        var best = t.name === "weights" ? Math.max.apply(null, row.map(value)) : null;
        row.forEach(function (text, j) {
          var td = el("td", { tabindex: 0, "data-i": i, "data-j": j }, text);
          if (best !== null && value(text) === best && best > 0) td.className = "max";
          var show = function () { $("expansion").textContent = expand(b, byName, t, i, j); };
          td.addEventListener("mouseenter", show);
          td.addEventListener("focus", show);
          tr.appendChild(td);
        });
        if (t.extra) tr.appendChild(el("td", { class: "x" }, decodeRow(t.extra.cells)[i]));
        body.appendChild(tr);
      });
      table.appendChild(body);
      var scroll = el("div", { class: "scroll" });
      scroll.appendChild(table);
      fig.appendChild(scroll);
      if (t.caption) fig.appendChild(el("p", { class: "caption" }, t.caption));
      box.appendChild(fig);
    });
  }
  // How one printed cell comes about, term by term, from the printed numbers of the other tables.
  function expand(b, by, t, i, j) {
    var rows = D.labels[t.rows], cols = t.cols === "d" ? null : D.labels[t.cols];
    var name = t.name;
    var at = name + "[" + rows[i] + ", " + (cols ? cols[j] : "d" + (j + 1)) + "]";
    var shown = cellsOf(t)[i][j];
    var lines = [];
    var g = function (n) { return by[n] ? cellsOf(by[n]) : null; };
    var logits = g("masked") || g("capped") || g("scaled");
    if (name === "scores" && g("q") && g("k")) {
      var q = g("q")[i], k = g("k")[j];
      lines.push(fill(U.expand_scores, { cell: at, query: rows[i], key: cols[j] }));
      lines.push(q.map(function (x, d) { return x + "×" + k[d]; }).join(" + ") + " = " + shown);
    } else if (name === "scaled" && g("scores")) {
      lines.push(fill(U.expand_scaled, { cell: at }));
      lines.push(g("scores")[i][j] + " × " + String(b.scale) + " = " + shown);
    } else if (name === "capped" && g("scaled")) {
      var c = String(b.softcap);
      lines.push(fill(U.expand_capped, { cell: at, c: c }));
      lines.push(c + " × tanh(" + g("scaled")[i][j] + " / " + c + ") = " + shown);
    } else if (name === "masked") {
      lines.push(fill(U.expand_masked, { cell: at }));
      lines.push((g("capped") || g("scaled") ? (g("capped") || g("scaled"))[i][j] : "?") + " → " + shown);
    } else if (name === "allowed") {
      lines.push(fill(shown === "✓" ? U.expand_seen : U.expand_hidden, { cell: at, query: rows[i], key: cols[j] }));
    } else if (name === "shifted" && logits) {
      lines.push(fill(U.expand_shifted, { cell: at }));
      lines.push(logits[i][j] + " − " + decodeRow(t.extra.cells)[i] + " = " + shown);
    } else if (name === "exp" && g("shifted")) {
      lines.push(fill(U.expand_exp, { cell: at }));
      lines.push("exp(" + g("shifted")[i][j] + ") = " + shown);
    } else if (name === "weights" && logits) {
      var r = logits[i], m = Math.max.apply(null, r.map(value));
      var mt = r[r.map(value).indexOf(m)];
      lines.push(fill(U.expand_weights, { cell: at }));
      lines.push("exp(" + r[j] + " − " + mt + ") ÷ (" + r.map(function (x) { return "exp(" + x + " − " + mt + ")"; }).join(" + ") + ") = " + shown);
      lines.push(U.exact + ": " + String(b.weights[i][j]));
    } else if (name === "output" && g("weights") && g("v")) {
      var w = g("weights")[i], v = g("v");
      lines.push(fill(U.expand_output, { cell: at }));
      lines.push(w.map(function (x, k2) { return x + "×" + v[k2][j]; }).join(" + ") + " = " + shown);
    } else {
      lines.push(fill(U.expand_input, { cell: at }) + " " + shown);
    }
    return lines.join("\n");
  }

  // ---- the page ---------------------------------------------------------------------------------
  function setup() {
    document.title = D.sentence || D.title || "attncli";
    $("title").textContent = D.sentence ? "“" + D.sentence + "”" : (D.title || "attncli");
    $("header").textContent = D.header || "";
    (D.notes || []).forEach(function (n) { $("notes").appendChild(el("li", {}, n)); });
    $("hv-title").textContent = U.head_view;
    $("hv-help").textContent = U.head_view_help;
    $("mv-title").textContent = U.model_view;
    $("mv-help").textContent = U.model_view_help;
    $("st-help").textContent = U.stages_help;
    $("layer-label").textContent = U.layer;
    $("heads-label").textContent = U.heads;
    $("several-label").textContent = U.several;
    $("level-label").textContent = U.level;
    $("pieces-label").textContent = U.pieces;
    $("words-label").textContent = U.words;
    $("words-note").textContent = U.words_note;
    $("json-note").textContent = U.json_note;
    $("save-json").textContent = U.save_json;
    if (D.layers === 1) $("layer").closest("label").hidden = true;
    var choices = filters();
    if (choices.length) {
      $("mv-filter-box").hidden = false;
      $("mv-filter-label").textContent = U.filter;
      var sel = $("mv-filter");
      sel.appendChild(el("option", { value: "" }, U.no_filter));
      choices.forEach(function (f) { sel.appendChild(el("option", { value: f.id }, f.name)); });
      state.filter = choices[0].id;  // the analysis the run asked for, shown at once
      sel.value = state.filter;
      sel.addEventListener("change", function () { state.filter = this.value; drawModelView(); $("mv-filter").focus(); });
    }
    if (D.groups && D.groups.some(function (g) { return g.length > 1; })) $("level").hidden = false;
    $("layer").addEventListener("change", function () {
      state.layer = +this.value;
      state.focus = null;
      redraw();
      $("layer").focus();
    });
    document.querySelectorAll('input[name="level"]').forEach(function (r) {
      r.addEventListener("change", function () {
        state.level = this.value;
        state.focus = null;
        $("words-note").hidden = state.level !== "words";
        drawHeadView();
      });
    });
    $("save-json").addEventListener("click", function () {
      var blob = new Blob([JSON.stringify(JSON.parse($("attn-json").textContent), null, 2) + "\n"], { type: "application/json" });
      var a = el("a", { href: URL.createObjectURL(blob), download: "attn.json" });
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
    var wide = window.innerWidth >= 640;
    window.addEventListener("resize", function () {
      if ((window.innerWidth >= 640) !== wide) { wide = !wide; drawHeadView(); }
    });
    redraw();
  }
  setup();
})();
