// Keyboard access to the regions that scroll by themselves (WCAG 2.1.1, axe's
// scrollable-region-focusable): a code block, table, display equation or notebook output that
// is wider or taller than its box gets tabindex="0" (and a name), so it can be focused and
// scrolled with the arrow keys. Re-checked when the width changes (a phone turned sideways).
(() => {
  const CANDIDATES = [
    ".md-typeset pre", ".md-typeset pre > code", ".md-typeset .jp-OutputArea-output pre", ".md-typeset__scrollwrap", ".md-typeset table", ".md-typeset .katex-display",
    ".md-typeset .highlight-ipynb", ".md-typeset .jp-OutputArea-output", ".md-typeset .tabbed-labels",
  ].join(", ");
  const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])";
  const scrolls = (el) => {
    const s = getComputedStyle(el);
    const x = /(auto|scroll)/.test(s.overflowX) && el.scrollWidth > el.clientWidth + 1;
    const y = /(auto|scroll)/.test(s.overflowY) && el.scrollHeight > el.clientHeight + 1;
    return x || y;
  };
  const label = (el) => {
    if (el.closest(".katex-display")) return "Equation";
    if (el.closest(".md-typeset__scrollwrap") || el.matches("table")) return "Table";
    if (el.closest(".tabbed-labels")) return "Tabs";
    return "Code";
  };
  const update = (root) => {
    for (const el of root.querySelectorAll(CANDIDATES)) {
      if (el.hasAttribute("tabindex") && !el.hasAttribute("data-ta-scroll")) continue;
      // A region that already holds something focusable is reachable by keyboard as it is.
      if (scrolls(el) && el.querySelector(FOCUSABLE) === null) {
        el.setAttribute("tabindex", "0");
        el.setAttribute("data-ta-scroll", "");
        // A scrolling <div> becomes a named region; a <table> or <pre> keeps its own role.
        if (el.tagName === "DIV" && !el.hasAttribute("role") && !el.hasAttribute("aria-label")) {
          el.setAttribute("role", "region");
          el.setAttribute("aria-label", label(el) + " (scrolls)");
        }
      } else if (el.hasAttribute("data-ta-scroll")) {
        el.removeAttribute("tabindex");
        el.removeAttribute("data-ta-scroll");
      }
    }
  };
  // Phones: a wide Mermaid flow (left to right) shrunk to a 390-px column is unreadable. Such a
  // diagram keeps a readable width and scrolls sideways inside its own box instead. Only in a
  // column narrower than PHONE_COLUMN: in a desktop's (about 690 px) the diagram is scaled to fit
  // and seen whole (widened there, its right part sat hidden behind a sideways scroll).
  const MIN_DIAGRAM_WIDTH = 960;
  const PHONE_COLUMN = 600;
  const widenDiagrams = (root) => {
    for (const d of root.querySelectorAll("div.mermaid")) {
      const r = d.getBoundingClientRect();
      if (!r.height || d.dataset.taWide !== undefined) continue;
      if (r.width < PHONE_COLUMN && r.width / r.height > 2.5) {
        const box = document.createElement("div");
        box.className = "ta-diagram-scroll";
        d.parentNode.insertBefore(box, d);
        box.appendChild(d);
        d.style.minWidth = MIN_DIAGRAM_WIDTH + "px";
        d.dataset.taWide = "";
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", "Diagram (scrolls)");
      }
    }
  };
  const whenDrawn = (root, tries = 40) => {
    const ds = [...root.querySelectorAll("div.mermaid")];
    if (ds.length && ds.every((d) => d.getBoundingClientRect().height > 0)) widenDiagrams(root);
    else if (tries > 0 && (ds.length || root.querySelector("pre.mermaid"))) setTimeout(() => whenDrawn(root, tries - 1), 250);
  };
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(() => update(document), 150); };
  if (typeof document$ !== "undefined") {
    document$.subscribe(({ body }) => { update(body); setTimeout(() => update(body), 500); whenDrawn(body); });
  } else {
    document.addEventListener("DOMContentLoaded", () => update(document));
  }
  window.addEventListener("resize", later);
  // A region can start to scroll at any time after the first pass: a display equation once
  // KaTeX's fonts are in, a table once its code font has loaded (on a slow machine long after
  // 500 ms, and document.fonts.ready can resolve before those loads even start). So every
  // candidate and its children are watched: whenever one changes size, the regions are checked
  // again in the next animation frame (one check per frame, however many boxes changed).
  if (typeof ResizeObserver !== "undefined") {
    let queued = false;
    // KaTeX draws a display equation inside its .arithmatex box after the first pass: the box
    // is watched too, and a region drawn since is watched from then on.
    const WATCHED = CANDIDATES + ", .md-typeset .arithmatex";
    const observer = new ResizeObserver(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; watch(document); update(document); });
    });
    const watch = (root) => {
      for (const el of root.querySelectorAll(WATCHED)) {
        observer.observe(el);
        for (const child of el.children) observer.observe(child);
      }
    };
    if (typeof document$ !== "undefined") document$.subscribe(({ body }) => watch(body));
    else document.addEventListener("DOMContentLoaded", () => watch(document));
  }
  if (document.fonts) {
    if (document.fonts.ready) document.fonts.ready.then(() => update(document));
    document.fonts.addEventListener("loadingdone", later);
  }
})();
