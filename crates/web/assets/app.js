// Peyvand's own script: a date picker for Jalali and Gregorian dates. Everything else is
// server-rendered HTML with htmx attributes.
(function () {
  "use strict";
  var persianDigits = "۰۱۲۳۴۵۶۷۸۹";
  function toPersian(s) { return String(s).replace(/[0-9]/g, function (d) { return persianDigits[+d]; }); }
  function toLatin(s) {
    return String(s).replace(/[۰-۹]/g, function (d) { return persianDigits.indexOf(d); })
      .replace(/[٠-٩]/g, function (d) { return d.charCodeAt(0) - 0x660; });
  }
  // Jalali year, month, day of a Gregorian date, by the browser's own Persian calendar.
  var persianFormat = new Intl.DateTimeFormat("en-US-u-ca-persian-nu-latn", { year: "numeric", month: "numeric", day: "numeric", timeZone: "UTC" });
  function jalaliOf(date) {
    var parts = {};
    persianFormat.formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return { y: parseInt(parts.year, 10), m: parseInt(parts.month, 10), d: parseInt(parts.day, 10) };
  }
  function utc(y, m, d) { return new Date(Date.UTC(y, m - 1, d)); }
  function addDays(date, n) { return new Date(date.getTime() + n * 86400000); }
  // The Gregorian date of the first day of a Jalali month: Farvardin 1 falls on 20 or 21 March.
  function jalaliMonthStart(jy, jm) {
    var g = utc(jy + 621, 3, 18);
    for (var i = 0; i < 400; i++) {
      var j = jalaliOf(g);
      if (j.y === jy && j.m === jm && j.d === 1) return g;
      g = addDays(g, j.y < jy || (j.y === jy && j.m < jm) ? Math.max(1, 29 - j.d) : -1);
    }
    return null;
  }

  function openCalendar(input, button) {
    closeCalendar();
    var jalali = input.dataset.calendar === "jalali";
    var labels = document.getElementById("calendar-labels");
    var months = labels.dataset.months.split(",");
    var weekdays = labels.dataset.weekdays.split(",");
    var today = new Date();
    var shown;
    var v = toLatin(input.value).split(/[\/-]/).map(function (x) { return parseInt(x, 10); });
    if (v.length === 3 && v.every(function (x) { return x > 0; })) shown = { y: v[0], m: v[1] };
    else if (jalali) { var t = jalaliOf(today); shown = { y: t.y, m: t.m }; }
    else shown = { y: today.getUTCFullYear(), m: today.getUTCMonth() + 1 };

    var box = document.createElement("div");
    box.className = "calendar";
    box.setAttribute("role", "dialog");
    function render() {
      box.innerHTML = "";
      var head = document.createElement("div");
      head.className = "calendar-head";
      var prev = document.createElement("button"); prev.type = "button"; prev.textContent = "‹"; prev.className = "calendar-prev";
      var next = document.createElement("button"); next.type = "button"; next.textContent = "›"; next.className = "calendar-next";
      // The month and the year are chosen from lists too: a birth year is decades away.
      var month = document.createElement("select");
      month.className = "calendar-month"; month.setAttribute("aria-label", labels.dataset.month);
      months.forEach(function (name, i) { month.add(new Option(name, i + 1, false, i + 1 === shown.m)); });
      var year = document.createElement("select");
      year.className = "calendar-year"; year.setAttribute("aria-label", labels.dataset.year);
      var thisYear = jalali ? jalaliOf(today).y : today.getUTCFullYear();
      for (var y = Math.max(thisYear, shown.y) + 10; y >= Math.min(thisYear, shown.y) - 110; y--) {
        year.add(new Option(jalali ? toPersian(y) : String(y), y, false, y === shown.y));
      }
      month.onchange = function () { shown.m = parseInt(month.value, 10); render(); };
      year.onchange = function () { shown.y = parseInt(year.value, 10); render(); };
      prev.onclick = function () { shown.m -= 1; if (shown.m < 1) { shown.m = 12; shown.y -= 1; } render(); };
      next.onclick = function () { shown.m += 1; if (shown.m > 12) { shown.m = 1; shown.y += 1; } render(); };
      head.append(prev, month, year, next);
      box.append(head);
      var grid = document.createElement("div");
      grid.className = "calendar-grid";
      weekdays.forEach(function (w) { var s = document.createElement("span"); s.className = "wd"; s.textContent = w; grid.append(s); });
      var first = jalali ? jalaliMonthStart(shown.y, shown.m) : utc(shown.y, shown.m, 1);
      // Columns start on Saturday in Persian and on Monday in English.
      var offset = jalali ? (first.getUTCDay() + 1) % 7 : (first.getUTCDay() + 6) % 7;
      for (var i = 0; i < offset; i++) grid.append(document.createElement("span"));
      for (var day = first, n = 1; n <= 31; n++, day = addDays(day, 1)) {
        var parts = jalali ? jalaliOf(day) : { y: day.getUTCFullYear(), m: day.getUTCMonth() + 1, d: day.getUTCDate() };
        if (parts.m !== shown.m) break;
        var b = document.createElement("button");
        b.type = "button";
        b.className = "calendar-day";
        b.textContent = jalali ? toPersian(parts.d) : parts.d;
        b.dataset.value = jalali
          ? toPersian(parts.y + "/" + String(parts.m).padStart(2, "0") + "/" + String(parts.d).padStart(2, "0"))
          : parts.y + "-" + String(parts.m).padStart(2, "0") + "-" + String(parts.d).padStart(2, "0");
        b.onclick = function (e) { input.value = e.target.dataset.value; closeCalendar(); input.focus(); };
        grid.append(b);
      }
      box.append(grid);
    }
    render();
    button.parentNode.append(box);
  }
  function closeCalendar() { document.querySelectorAll(".calendar").forEach(function (c) { c.remove(); }); }

  document.addEventListener("click", function (e) {
    var opener = e.target.closest(".calendar-open");
    if (opener) { openCalendar(document.getElementById(opener.dataset.for), opener); return; }
    if (!e.target.closest(".calendar")) closeCalendar();
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeCalendar(); });
})();

// The filter builder: the value box offers the names of the chosen field's values (choices,
// users, related records), whose list the server rendered as dl-FIELD.
document.addEventListener("change", function (e) {
  if (!e.target.matches(".builder select[name=cf]")) return;
  var value = e.target.closest(".condition").querySelector("input[name=cv]");
  if (document.getElementById("dl-" + e.target.value)) value.setAttribute("list", "dl-" + e.target.value);
  else value.removeAttribute("list");
});

// Boards: a column folds to its name (remembered for this object in this browser tab).
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board) return;
  var key = "folded:" + board.dataset.object + ":" + board.dataset.field;
  var folded = JSON.parse(sessionStorage.getItem(key) || "[]");
  function show(col, fold) {
    col.classList.toggle("folded", fold);
    col.querySelector("[data-column-toggle]").setAttribute("aria-expanded", fold ? "false" : "true");
  }
  board.querySelectorAll(".board-column").forEach(function (col) { if (folded.indexOf(col.dataset.value) >= 0) show(col, true); });
  board.addEventListener("click", function (e) {
    var toggle = e.target.closest("[data-column-toggle]");
    if (!toggle) return;
    var col = toggle.closest(".board-column"), fold = !col.classList.contains("folded");
    show(col, fold);
    folded = folded.filter(function (v) { return v !== col.dataset.value; });
    if (fold) folded.push(col.dataset.value);
    sessionStorage.setItem(key, JSON.stringify(folded));
  });
})();

// Lists: the density switch (a cookie, so the next page arrives as chosen), and moving through
// rows with the arrow keys (Enter opens the row's record: its title is a link).
document.addEventListener("click", function (e) {
  var toggle = e.target.closest("[data-density-toggle]");
  if (!toggle) return;
  var compact = document.documentElement.dataset.density !== "compact";
  if (compact) document.documentElement.dataset.density = "compact"; else delete document.documentElement.dataset.density;
  toggle.setAttribute("aria-pressed", compact ? "true" : "false");
  document.cookie = "density=" + (compact ? "compact" : "comfortable") + "; path=/; max-age=31536000; samesite=lax";
});
document.addEventListener("keydown", function (e) {
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
  var row = e.target.closest && e.target.closest("table[data-rows] tbody tr");
  if (!row || e.target.closest("form.cell-edit, input:not([type=checkbox]), select, textarea")) return;
  var next = e.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
  var link = next && next.querySelector("td a");
  if (!link) return;
  e.preventDefault();
  row.classList.remove("row-focus");
  next.classList.add("row-focus");
  link.focus();
});
// Esc on a record's page goes back to its list (unless a dialog, a menu or an edit is open).
document.addEventListener("keydown", function (e) {
  if (e.key !== "Escape" || e.defaultPrevented) return;
  if (document.querySelector("dialog[open], .calendar, form.cell-edit, details.user-menu[open]")) return;
  if (e.target.closest && e.target.closest("input, select, textarea")) return;
  var back = document.querySelector(".record-head .crumbs a");
  if (back) window.location.href = back.href;
});

// A choice that applies at once (the board's grouping): the form is sent on change.
document.addEventListener("change", function (e) {
  if (e.target.matches("select[data-autosubmit]")) e.target.form.submit();
});

// Choices that depend on another field (a deal's stage on its pipeline): only those under the
// other field's value (or under none) are offered; a chosen one that no longer fits is cleared.
(function () {
  function narrow(select) {
    var parent = document.getElementById(select.dataset.dependsOn);
    if (!parent) return;
    Array.prototype.forEach.call(select.options, function (o) {
      var fits = !o.dataset.parent || o.dataset.parent === parent.value;
      o.hidden = !fits;
      o.disabled = !fits;
      if (!fits && o.selected) select.value = "";
    });
  }
  function all() { document.querySelectorAll("select[data-depends-on]").forEach(narrow); }
  document.addEventListener("change", function (e) {
    if (e.target.tagName === "SELECT") {
      document.querySelectorAll('select[data-depends-on="' + e.target.id + '"]').forEach(narrow);
    }
  });
  document.addEventListener("DOMContentLoaded", all);
  document.addEventListener("htmx:afterSwap", all);
})();

// Lists: a checkbox that selects every row.
document.addEventListener("change", function (e) {
  if (!e.target.matches("[data-select-all]")) return;
  var form = e.target.closest("form");
  form.querySelectorAll("input[name=id]").forEach(function (c) { c.checked = e.target.checked; });
});

// Boards: drag a card to another column to change the field; the toast offers an undo.
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board || board.dataset.canWrite !== "true") return;
  var dragged = null;
  var toast = document.querySelector(".toast");
  function column(el) { return el.closest(".board-column"); }
  function send(id, value) {
    var body = new URLSearchParams({ csrf: board.dataset.csrf, field: board.dataset.field, value: value });
    return fetch("/records/" + board.dataset.object + "/" + id + "/move", {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded" }
    }).then(function (r) { if (!r.ok) throw new Error("move failed: " + r.status); return r.json(); });
  }
  function place(card, col) {
    col.querySelector(".cards").prepend(card);
    var picker = card.querySelector("select.card-move");
    if (picker) picker.value = col.dataset.value;
    recount();
  }
  function recount() {
    board.querySelectorAll(".board-column").forEach(function (c) {
      var n = c.querySelectorAll(".card").length;
      var count = c.querySelector(".count");
      if (count && count.dataset.exact !== "false") count.textContent = board.closest("[dir=rtl]") ? n.toLocaleString("fa-IR") : n;
    });
  }
  function showToast(text, undo) {
    toast.querySelector(".toast-text").textContent = text;
    var button = toast.querySelector(".toast-undo");
    button.textContent = board.dataset.undo;
    button.onclick = function () { toast.hidden = true; undo(); };
    toast.hidden = false;
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(function () { toast.hidden = true; }, 8000);
  }
  // The keyboard way: each card's "move to" list.
  board.addEventListener("change", function (e) {
    if (!e.target.matches("select.card-move")) return;
    var card = e.target.closest(".card"), from = column(card);
    var target = board.querySelector('.board-column[data-value="' + CSS.escape(e.target.value) + '"]');
    if (!target || target === from) return;
    send(card.dataset.id, target.dataset.value).then(function () {
      place(card, target);
      e.target.focus();
      showToast(board.dataset.moved.replace("%s", target.dataset.label), function () {
        send(card.dataset.id, from.dataset.value).then(function () { place(card, from); });
      });
    }).catch(function () { place(card, from); });
  });
  // Shift and an arrow move a card to the next or previous column (columns run right to left
  // in Persian): one keystroke from the card.
  board.addEventListener("keydown", function (e) {
    if (!e.shiftKey || (e.key !== "ArrowLeft" && e.key !== "ArrowRight")) return;
    var card = e.target.closest(".card");
    if (!card) return;
    e.preventDefault();
    var columns = Array.prototype.slice.call(board.querySelectorAll(".board-column"));
    var from = column(card), at = columns.indexOf(from);
    var forward = (e.key === "ArrowRight") !== !!board.closest("[dir=rtl]");
    var target = columns[at + (forward ? 1 : -1)];
    if (!target) return;
    place(card, target);
    var link = card.querySelector("a");
    if (link) link.focus();
    send(card.dataset.id, target.dataset.value).then(function () {
      showToast(board.dataset.moved.replace("%s", target.dataset.label), function () {
        send(card.dataset.id, from.dataset.value).then(function () { place(card, from); });
      });
    }).catch(function () { place(card, from); });
  });
  board.addEventListener("dragstart", function (e) {
    var card = e.target.closest(".card");
    if (!card) return;
    dragged = card;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
  });
  board.addEventListener("dragend", function () { if (dragged) dragged.classList.remove("dragging"); dragged = null; });
  board.addEventListener("dragover", function (e) { if (dragged && column(e.target)) { e.preventDefault(); column(e.target).classList.add("over"); } });
  board.addEventListener("dragleave", function (e) { var c = column(e.target); if (c) c.classList.remove("over"); });
  board.addEventListener("drop", function (e) {
    var target = column(e.target);
    if (!dragged || !target) return;
    e.preventDefault();
    target.classList.remove("over");
    var card = dragged, from = column(card);
    if (from === target) return;
    place(card, target);
    send(card.dataset.id, target.dataset.value).then(function () {
      showToast(board.dataset.moved.replace("%s", target.dataset.label), function () {
        send(card.dataset.id, from.dataset.value).then(function () { place(card, from); });
      });
    }).catch(function () { place(card, from); });
  });
})();

// The calendar: drag a task to another day; it keeps its time of day. Refused moves (a reminder
// already past) go back.
(function () {
  "use strict";
  var cal = document.querySelector(".cal-view[data-csrf]");
  if (!cal) return;
  var dragged = null;
  var toast = document.querySelector(".toast");
  function day(el) { return el.closest("[data-date]"); }
  function say(text) {
    if (!toast) return;
    toast.querySelector(".toast-text").textContent = text;
    toast.hidden = false;
    clearTimeout(say.timer);
    say.timer = setTimeout(function () { toast.hidden = true; }, 6000);
  }
  cal.addEventListener("dragstart", function (e) {
    var item = e.target.closest("[data-task]");
    if (!item) return;
    dragged = item;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", item.dataset.task);
    item.classList.add("dragging");
  });
  cal.addEventListener("dragend", function () { if (dragged) dragged.classList.remove("dragging"); dragged = null; });
  cal.addEventListener("dragover", function (e) { if (dragged && day(e.target)) { e.preventDefault(); day(e.target).classList.add("over"); } });
  cal.addEventListener("dragleave", function (e) { var d = day(e.target); if (d) d.classList.remove("over"); });
  cal.addEventListener("drop", function (e) {
    var target = day(e.target);
    if (!dragged || !target) return;
    e.preventDefault();
    target.classList.remove("over");
    var item = dragged, from = day(item);
    if (from === target) return;
    var list = target.querySelector("ul");
    if (!list) { list = document.createElement("ul"); target.appendChild(list); }
    list.appendChild(item);
    var body = new URLSearchParams({ csrf: cal.dataset.csrf, date: target.dataset.date });
    fetch("/tasks/" + encodeURIComponent(item.dataset.task) + "/reschedule", {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded" }
    }).then(function (r) {
      if (!r.ok) throw new Error("refused: " + r.status);
      say(cal.dataset.moved);
    }).catch(function () {
      from.querySelector("ul").appendChild(item);
      say(cal.dataset.refused);
    });
  });
})();

// The frame: fold the side navigation (kept in a cookie, so the next page arrives folded), open
// it as a drawer on a phone, the command palette (Ctrl/⌘+K), dialogs opened by a button.
(function () {
  "use strict";
  var root = document.documentElement;
  document.addEventListener("click", function (e) {
    var fold = e.target.closest("[data-collapse]");
    if (fold) {
      var folded = root.dataset.sidebar !== "collapsed";
      if (folded) root.dataset.sidebar = "collapsed"; else delete root.dataset.sidebar;
      fold.setAttribute("aria-expanded", folded ? "false" : "true");
      document.cookie = "sidebar=" + (folded ? "collapsed" : "open") + "; path=/; max-age=31536000; samesite=lax";
      return;
    }
    var drawer = e.target.closest("[data-drawer]");
    if (drawer) {
      var open = root.dataset.drawer !== "open";
      if (open) root.dataset.drawer = "open"; else delete root.dataset.drawer;
      drawer.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) { var first = document.querySelector(".sidebar a"); if (first) first.focus(); }
      return;
    }
    if (root.dataset.drawer === "open" && !e.target.closest(".sidebar")) delete root.dataset.drawer;
    var opener = e.target.closest("[data-palette-open]");
    if (opener) { openPalette(); return; }
    var dialogOpener = e.target.closest("[data-dialog-open]");
    if (dialogOpener) { var d = document.getElementById(dialogOpener.dataset.dialogOpen); if (d) d.showModal(); return; }
    if (e.target.closest("[data-toast-demo]")) {
      var toast = document.querySelector(".toast");
      toast.hidden = false;
      toast.querySelector(".toast-undo").onclick = function () { toast.hidden = true; };
      setTimeout(function () { toast.hidden = true; }, 6000);
    }
  });

  var palette = document.getElementById("palette");
  function openPalette() {
    if (!palette) return;
    delete root.dataset.drawer;
    if (!palette.open) palette.showModal();
    var input = palette.querySelector("input");
    input.focus();
    input.select();
  }
  // Arrow keys move the focus through the results (links: Enter opens one); from the box,
  // Enter opens the first.
  function links() { return Array.prototype.slice.call(palette.querySelectorAll(".palette-results a")); }
  function mark(index) {
    links().forEach(function (a, i) { if (i === index) a.setAttribute("data-selected", ""); else a.removeAttribute("data-selected"); });
  }
  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === "k" || e.key === "K" || e.key === "ک")) { e.preventDefault(); openPalette(); return; }
    if (!palette || !palette.open) { if (e.key === "Escape") delete root.dataset.drawer; return; }
    var all = links(), at = all.indexOf(document.activeElement), input = palette.querySelector("input");
    if (e.key === "ArrowDown" && all.length) { e.preventDefault(); var next = all[Math.min(at + 1, all.length - 1)]; next.focus(); mark(all.indexOf(next)); }
    else if (e.key === "ArrowUp" && all.length) {
      e.preventDefault();
      if (at <= 0) { input.focus(); mark(0); } else { all[at - 1].focus(); mark(at - 1); }
    } else if (e.key === "Enter" && document.activeElement === input) {
      e.preventDefault();
      // Results for what was typed may still be on their way: Enter waits for them.
      if (answered !== input.value) pendingEnter = true;
      else if (all.length) window.location.href = all[0].href;
    }
  });
  var pendingEnter = false, answered = null;
  if (palette) {
    // The first result is marked as results arrive: Enter in the box opens it.
    // Results answer the query in their request's address: results for an older query (the
    // recent records asked for on opening, say) leave Enter waiting for the newest.
    palette.addEventListener("htmx:afterSwap", function (e) {
      var input = palette.querySelector("input"), asked = null;
      try { asked = new URL(e.detail.xhr.responseURL).searchParams.get("q") || ""; } catch (err) { asked = input.value; }
      answered = asked;
      mark(0);
      if (asked !== input.value) return;
      var first = links()[0];
      if (pendingEnter && first) window.location.href = first.href;
      pendingEnter = false;
    });
    palette.addEventListener("click", function (e) { if (e.target === palette) palette.close(); });
  }
  // A survey's skip logic: a question that waits for an earlier answer shows only when that
  // answer is one of its values (the server drops a hidden question's answer either way).
  function surveyLogic(form) {
    var picked = function (key) {
      return Array.prototype.filter.call(form.elements, function (el) {
        return el.name === key && (el.type === "radio" || el.type === "checkbox" ? el.checked : el.value !== "");
      }).map(function (el) { return el.value; });
    };
    Array.prototype.forEach.call(form.querySelectorAll("[data-when]"), function (q) {
      var earlier = form.querySelector('[data-question="' + q.dataset.when + '"]');
      var any = q.dataset.any.split(",");
      var shown = (!earlier || !earlier.hidden) && picked(q.dataset.when).some(function (v) { return any.indexOf(v) >= 0; });
      q.hidden = !shown;
      Array.prototype.forEach.call(q.querySelectorAll("input, textarea"), function (el) { el.disabled = !shown; });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("form.survey"), function (form) {
    surveyLogic(form);
    form.addEventListener("change", function () { surveyLogic(form); });
  });
  // A printable page's print button.
  document.addEventListener("click", function (e) { if (e.target.closest("[data-print]")) window.print(); });
})();

// The workflow builder: each step (and the trigger) shows only the inputs of its chosen kind;
// without this script every input shows and the server reads those of the kind chosen.
function showKindParts(select, scope, partSelector) {
  var kind = select.value;
  scope.querySelectorAll(partSelector).forEach(function (part) {
    part.hidden = kind !== "" && part.dataset.kinds.split(" ").indexOf(kind) < 0;
    if (kind === "") part.hidden = true;
  });
}
function wireBuilder(root) {
  root.querySelectorAll("[data-step-kind]").forEach(function (s) {
    showKindParts(s, s.closest("[data-step]"), ".step-part");
  });
  root.querySelectorAll("[data-trigger-kind]").forEach(function (s) {
    showKindParts(s, s.closest("fieldset"), ".trigger-part");
  });
}
document.addEventListener("change", function (e) {
  var t = e.target;
  if (t.matches && t.matches("[data-step-kind]")) showKindParts(t, t.closest("[data-step]"), ".step-part");
  if (t.matches && t.matches("[data-trigger-kind]")) showKindParts(t, t.closest("fieldset"), ".trigger-part");
});
document.addEventListener("DOMContentLoaded", function () { wireBuilder(document); });
