// Runs in the rendered page (page.evaluate). Two phases, sharing state on window.__icpwatch:
//
//   collect()       the text a reader sees, as one string with a map back to its text nodes
//                   (block boundaries become "\u0000", which the filing-number grammar cannot
//                   cross; <br> becomes "\n"), plus <noscript> text, images with their alt/title,
//                   and the page's size. Python finds the marks in it with the registry grammar.
//   measure(items)  for each mark found (a [start, end) span of the text, or an image): the
//                   rendered boxes of its text ranges, whether a reader can see it and why not,
//                   the line box it sits in, the fixed-position box holding it, and every link at
//                   or below it with its target.
//
// Everything is measured, nothing is judged here: the verdict is Python's (display.py).
(phase) => {
  const W = window;
  const doc = document;
  const root = doc.scrollingElement || doc.documentElement;
  const pageSize = () => ({
    width: Math.max(root.scrollWidth, doc.body ? doc.body.scrollWidth : 0, W.innerWidth),
    height: Math.max(root.scrollHeight, doc.body ? doc.body.scrollHeight : 0, W.innerHeight),
    viewport: { width: W.innerWidth, height: W.innerHeight },
  });
  const SKIP = new Set(["SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT", "HEAD", "TITLE", "IFRAME", "OBJECT", "SVG"]);
  const styleOf = (el) => W.getComputedStyle(el);
  const isBlock = (el) => {
    const d = styleOf(el).display;
    // display:none does not break the text: a number with hidden digits is still one (hidden) mark
    return !(d.startsWith("inline") || d === "contents" || d === "none" || d === "ruby" || d === "ruby-text");
  };

  if (phase.op === "collect") {
    const blockCache = new Map();
    const blockOf = (node) => {
      let el = node.parentElement;
      while (el && el !== doc.body && el !== doc.documentElement) {
        let b = blockCache.get(el);
        if (b === undefined) { b = isBlock(el); blockCache.set(el, b); }
        if (b) return el;
        el = el.parentElement;
      }
      return el;
    };
    const parts = [];
    const segs = [];  // [start, node]
    let n = 0;
    let lastBlock = null;
    const walker = doc.createTreeWalker(doc.body || doc.documentElement,
      NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
        acceptNode(node) {
          if (node.nodeType === 1 && SKIP.has(node.nodeName.toUpperCase())) return NodeFilter.FILTER_REJECT;
          return NodeFilter.FILTER_ACCEPT;
        },
      });
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.nodeType === 1) {
        if (node.nodeName === "BR") { parts.push("\n"); n += 1; }
        continue;
      }
      const text = node.data;
      if (!text) continue;
      const block = blockOf(node);
      if (block !== lastBlock) {
        if (n > 0) { parts.push("\u0000"); n += 1; }
        lastBlock = block;
      }
      segs.push([n, node]);
      parts.push(text);
      n += text.length;
    }
    const images = [];
    const imgs = Array.from(doc.querySelectorAll("img, input[type=image i]"));
    imgs.forEach((img, i) => {
      const r = img.getBoundingClientRect();
      images.push({
        index: i, alt: img.getAttribute("alt"), title: img.getAttribute("title"),
        src: img.currentSrc || img.src || null,
        width: r.width, height: r.height,
        loaded: img.complete === undefined ? null : (img.complete && img.naturalWidth > 0),
      });
    });
    const noscript = Array.from(doc.querySelectorAll("noscript")).map((el) => {
      const parsed = new DOMParser().parseFromString(el.textContent || "", "text/html");
      return (parsed.body && parsed.body.textContent) || "";
    });
    const hrefs = Array.from(doc.querySelectorAll("a[href]")).map((a) => a.getAttribute("href"));
    W.__icpwatch = { segs, imgs };
    return { text: parts.join(""), images, noscript, hrefs, page: pageSize(),
             url: doc.URL, title: doc.title, charset: doc.characterSet, meta_refresh: (() => {
               const m = doc.querySelector("meta[http-equiv=refresh i]");
               return m ? m.getAttribute("content") : null;
             })() };
  }

  // ---------------------------------------------------------------- measure
  const state = W.__icpwatch;
  const sx = W.scrollX, sy = W.scrollY;
  const toPage = (r) => ({ left: r.left + sx, top: r.top + sy, right: r.right + sx, bottom: r.bottom + sy,
                           width: r.width, height: r.height });
  const union = (rects) => {
    const rs = rects.filter((r) => r.width > 0 && r.height > 0);
    if (!rs.length) return null;
    const u = { left: Math.min(...rs.map((r) => r.left)), top: Math.min(...rs.map((r) => r.top)),
                right: Math.max(...rs.map((r) => r.right)), bottom: Math.max(...rs.map((r) => r.bottom)) };
    u.width = u.right - u.left; u.height = u.bottom - u.top;
    return u;
  };
  const locate = (pos, isEnd) => {
    const segs = state.segs;
    let lo = 0, hi = segs.length - 1, k = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (segs[mid][0] <= pos - (isEnd ? 1 : 0)) { k = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const [start, node] = segs[k];
    return [node, Math.max(0, Math.min(node.data.length, pos - start)), k];
  };
  const parseColour = (c) => {
    const m = c && c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const backgroundOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parseColour(styleOf(e).backgroundColor);
      if (c && c.a > 0) return c;
      if (styleOf(e).backgroundImage !== "none") return null;  // an image behind: colour unknown
    }
    return { r: 255, g: 255, b: 255, a: 1 };  // the canvas
  };
  const page = pageSize();
  // Why a reader cannot see the box of element ``el`` (holding text or an image), or null.
  const hiddenReason = (el, box) => {
    if (!el.isConnected) return "removed from the page";
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) {
      const s = styleOf(e);
      if (s.display === "none") return `display:none on <${e.nodeName.toLowerCase()}>`;
      opacity *= parseFloat(s.opacity || "1");
      if (e !== el && (s.overflow !== "visible" || s.overflowX !== "visible" || s.overflowY !== "visible"
                       || s.contain.includes("paint")) && box) {
        const r = e.getBoundingClientRect();
        const visibleW = Math.min(box.right - sx, r.right) - Math.max(box.left - sx, r.left);
        const visibleH = Math.min(box.bottom - sy, r.bottom) - Math.max(box.top - sy, r.top);
        if (visibleW <= 1 || visibleH <= 1) return `clipped by overflow of <${e.nodeName.toLowerCase()}>`;
      }
      if (s.clipPath && s.clipPath !== "none" && /inset\(\s*(50%|100%)|circle\(\s*0/.test(s.clipPath)) {
        return `clip-path ${s.clipPath}`;
      }
      if (s.clip && s.clip !== "auto" && /rect\(\s*0(px)?[ ,]+0(px)?[ ,]+0(px)?[ ,]+0(px)?\s*\)/.test(s.clip)) {
        return "clip: rect(0 0 0 0)";
      }
    }
    const s = styleOf(el);
    if (s.visibility !== "visible") return `visibility:${s.visibility}`;
    if (opacity < 0.05) return `opacity ${opacity.toFixed(2)}`;
    if (!box || box.width < 1 || box.height < 1) return "zero size";
    if (parseFloat(s.fontSize) < 4 && el.nodeName !== "IMG") return `font-size ${s.fontSize}`;
    if (box.right <= 0 || box.bottom <= 0 || box.left >= page.width || box.top >= page.height) {
      return "off-screen (outside the page)";
    }
    if (el.nodeName !== "IMG" && el.nodeName !== "INPUT") {
      const fg = parseColour(s.color), bg = backgroundOf(el);
      if (fg && fg.a < 0.05) return "transparent text colour";
      if (fg && bg && Math.abs(fg.r - bg.r) + Math.abs(fg.g - bg.g) + Math.abs(fg.b - bg.b) < 24) {
        return `text colour ${s.color} on background rgb(${bg.r}, ${bg.g}, ${bg.b})`;
      }
    }
    return null;
  };
  // The box fixed (or sticky) to the viewport that holds el, in viewport coordinates.
  const fixedOf = (el) => {
    for (let e = el; e && e !== doc.documentElement; e = e.parentElement) {
      const pos = styleOf(e).position;
      if (pos === "fixed" || pos === "sticky") {
        const r = e.getBoundingClientRect();
        return { position: pos, tag: e.nodeName.toLowerCase(), top: r.top, bottom: r.bottom,
                 left: r.left, right: r.right, bottom_gap: Math.abs(W.innerHeight - r.bottom) };
      }
    }
    return null;
  };
  const blockAncestor = (el) => {
    for (let e = el; e; e = e.parentElement) if (isBlock(e)) return e;
    return doc.body;
  };
  // The line the mark sits in: the union of the rects of its block's content on the same line.
  const lineBox = (el, first) => {
    if (!first) return null;
    const block = blockAncestor(el);
    const range = doc.createRange();
    range.selectNodeContents(block);
    const mid = (first.top + first.bottom) / 2 - sy;
    const rects = Array.from(range.getClientRects()).filter((r) => r.top <= mid && r.bottom >= mid);
    const u = union(rects);
    return u ? toPage(u) : null;
  };
  const links = (box, holders) => {
    if (!box) return [];
    const out = [];
    for (const a of doc.querySelectorAll("a[href], area[href]")) {
      const contains = holders.some((h) => a.contains(h));
      const r = union(Array.from(a.getClientRects()));
      if (!r && !contains) continue;
      const lb = r ? toPage(r) : box;
      if (!contains && lb.top < box.top - 2) continue;  // above the mark: not "at or below"
      out.push({ href: a.href || a.getAttribute("href"), text: (a.textContent || "").trim().slice(0, 80),
                 box: lb, contains, visible: hiddenReason(a, lb) === null || contains });
      if (out.length >= 50) break;
    }
    return out;
  };

  const results = [];
  for (const item of phase.items) {
    if (item.image !== undefined) {
      const img = state.imgs[item.image];
      const r = img.getBoundingClientRect();
      const box = r.width > 0 && r.height > 0 ? toPage(r) : null;
      const why = hiddenReason(img, box);
      results.push({ box, rects: box ? [box] : [], visible: why === null, hidden_reason: why,
                     line_box: lineBox(img, box), fixed: fixedOf(img), links: links(box, [img]),
                     element: img.nodeName.toLowerCase() });
      continue;
    }
    const [sNode, sOff, sk] = locate(item.start, false);
    const [eNode, eOff, ek] = locate(item.end, true);
    const range = doc.createRange();
    range.setStart(sNode, sOff);
    range.setEnd(eNode, eOff);
    const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0 && r.height > 0).map(toPage);
    const box = union(rects);
    // The elements holding digits decide visibility: a visible prefix with hidden digits is no number.
    const holders = [];
    let why = null;
    for (let k = sk; k <= ek; k++) {
      const node = state.segs[k][1];
      const a = k === sk ? sOff : 0, b = k === ek ? eOff : node.data.length;
      const part = node.data.slice(a, b);
      if (!part.trim()) continue;
      holders.push(node.parentElement);
      if (/[0-9\uff10-\uff19]/.test(part) && why === null) {
        const sub = doc.createRange();
        sub.setStart(node, a); sub.setEnd(node, b);
        const partBox = union(Array.from(sub.getClientRects()).map(toPage));
        why = hiddenReason(node.parentElement, partBox);
      }
    }
    if (why === null && !box) why = "zero size";
    const first = rects.length ? rects[0] : null;
    const holder = holders[0] || sNode.parentElement;
    results.push({ box, rects, visible: why === null, hidden_reason: why, line_box: lineBox(holder, first),
                   fixed: fixedOf(holder), links: links(box, holders),
                   element: holder ? holder.nodeName.toLowerCase() : null });
  }
  return { page, marks: results, scroll: { x: sx, y: sy } };
}
