// The batch's image graph: images laid out by level (a level is one more than the deepest dependency) as columns,
// dependencies as edges, drawn as SVG. Levels with more than COLLAPSE_AT images start collapsed to one summary node.
const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 190;
const NODE_H = 46;
const GAP_X = 70;
const GAP_Y = 12;
const TOP = 28;
const LEFT = 10;
export const COLLAPSE_AT = 40;

/** Levels of the images: 0 without dependencies in the batch, else 1 + the highest level of a dependency. */
export function levels(images) {
  const byId = new Map(images.map((i) => [i.buildId, i]));
  const level = new Map();
  const visiting = new Set();
  const visit = (id) => {
    if (level.has(id)) {
      return level.get(id);
    }
    if (visiting.has(id)) {
      return 0; // a cycle: the API refuses them, so this is only a guard
    }
    visiting.add(id);
    const deps = (byId.get(id).dependsOn || []).filter((d) => byId.has(d));
    let l = 0;
    for (const d of deps) {
      l = Math.max(l, visit(d) + 1);
    }
    visiting.delete(id);
    level.set(id, l);
    return l;
  };
  for (const image of images) {
    visit(image.buildId);
  }
  return level;
}

function el(name, attributes = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) {
    node.setAttribute(k, v);
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The second line of a node: what the state means now. */
export function stateLine(image) {
  switch (image.state) {
    case 'running':
      return image.attempt > 1 ? `running · attempt ${image.attempt}` : 'running';
    case 'retrying':
      return `retrying · ${image.reason || 'transient failure'}`;
    case 'succeeded':
      return image.digest ? `succeeded · ${image.digest.replace('sha256:', '').slice(0, 12)}` : 'succeeded';
    case 'failed':
    case 'cancelled':
      return image.reason ? `${image.state} · ${image.reason}` : image.state;
    default:
      return image.state;
  }
}

/**
 * Draws the graph into container (replacing what was there). images: [{buildId, name, state, dependsOn, attempt,
 * digest, reason}]. options: {expanded: Set of levels, collapsedLevels: Set, query, scale, onToggle(level)}.
 * Returns {update(image)} to change one node's state without redrawing.
 */
export function drawGraph(container, images, options) {
  const level = levels(images);
  const columns = [];
  for (const image of images) {
    const l = level.get(image.buildId);
    (columns[l] ||= []).push(image);
  }
  for (const column of columns) {
    column?.sort((a, b) => a.name.localeCompare(b.name));
  }
  const query = (options.query || '').trim().toLowerCase();
  const matches = (image) => query !== '' && image.name.toLowerCase().includes(query);
  const collapsed = (l) => !options.expanded.has(l) && columns[l].length > COLLAPSE_AT && !columns[l].some(matches);

  const position = new Map();
  let height = 0;
  columns.forEach((column, l) => {
    if (!column) {
      return;
    }
    const x = LEFT + l * (NODE_W + GAP_X);
    if (collapsed(l)) {
      position.set(`level:${l}`, { x, y: TOP });
      for (const image of column) {
        position.set(image.buildId, { x, y: TOP, hidden: true });
      }
      height = Math.max(height, TOP + NODE_H);
      return;
    }
    column.forEach((image, i) => {
      const y = TOP + i * (NODE_H + GAP_Y);
      position.set(image.buildId, { x, y });
      height = Math.max(height, y + NODE_H);
    });
  });
  const width = LEFT + columns.length * (NODE_W + GAP_X);
  const scale = options.scale || 1;
  const svg = el('svg', {
    class: 'graph',
    width: Math.ceil(width * scale),
    height: Math.ceil((height + 10) * scale),
    viewBox: `0 0 ${width} ${height + 10}`,
    role: 'group',
    'aria-label': `Image graph: ${images.length} images in ${columns.length} levels, dependencies left to right`,
  });
  const edges = el('g', { 'aria-hidden': 'true' });
  svg.append(edges);
  const seen = new Set();
  for (const image of images) {
    const to = position.get(image.buildId);
    for (const dep of image.dependsOn || []) {
      const from = position.get(dep);
      if (!from) {
        continue;
      }
      const key = `${from.x},${from.y}->${to.x},${to.y}`;
      if (seen.has(key)) {
        continue; // collapsed levels: one edge between the same two boxes
      }
      seen.add(key);
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      edges.append(el('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
    }
  }
  columns.forEach((column, l) => {
    if (column) {
      svg.append(el('text', { class: 'level-label', x: LEFT + l * (NODE_W + GAP_X), y: 16 }, `level ${l} · ${column.length}`));
    }
  });

  const nodes = new Map();
  for (const image of images) {
    const p = position.get(image.buildId);
    if (p.hidden) {
      continue;
    }
    const link = el('a', { href: `#/builds/${encodeURIComponent(image.buildId)}`, 'data-build': image.buildId });
    // The accessible name is the <title> (name and state in full); the visible lines may be clipped.
    const title = el('title');
    link.append(title);
    const g = el('g', { class: 'node', transform: `translate(${p.x},${p.y})` });
    g.append(el('rect', { width: NODE_W, height: NODE_H, rx: 6 }));
    g.append(el('text', { class: 'name', x: 8, y: 18 }, clip(image.name, 26)));
    const line = el('text', { class: 'line', x: 8, y: 36 });
    g.append(line);
    link.append(g);
    svg.append(link);
    const node = { link, g, line, title };
    nodes.set(image.buildId, node);
    paint(node, image, query !== '' ? matches(image) : null);
  }
  columns.forEach((column, l) => {
    if (!column || !collapsed(l)) {
      return;
    }
    const p = position.get(`level:${l}`);
    const summary = el('g', {
      class: 'node summary collapsed',
      transform: `translate(${p.x},${p.y})`,
      tabindex: '0',
      role: 'button',
    });
    summary.append(el('title', {}, `${column.length} images (expand): level ${l}, ${countText(column)}`));
    summary.append(el('rect', { width: NODE_W, height: NODE_H, rx: 6 }));
    summary.append(el('text', { class: 'name', x: 8, y: 18 }, `${column.length} images (expand)`));
    summary.append(el('text', { x: 8, y: 36 }, clip(countText(column), 30)));
    const toggle = () => options.onToggle(l);
    summary.addEventListener('click', toggle);
    summary.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle();
      }
    });
    svg.append(summary);
  });
  container.replaceChildren(svg);
  return {
    update(image) {
      const node = nodes.get(image.buildId);
      if (node) {
        paint(node, image, query !== '' ? matches(image) : null);
      }
    },
  };
}

function countText(column) {
  const counts = {};
  for (const image of column) {
    counts[image.state] = (counts[image.state] || 0) + 1;
  }
  return Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ');
}

function paint(node, image, hit) {
  const classes = ['node', `state-${image.state}`];
  if (hit === true) {
    classes.push('hit');
  } else if (hit === false) {
    classes.push('dim');
  }
  node.g.setAttribute('class', classes.join(' '));
  node.line.textContent = clip(stateLine(image), 30);
  node.title.textContent = `${image.name}: ${stateLine(image)}`;
  node.link.dataset.state = image.state;
}
