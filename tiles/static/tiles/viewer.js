// Admin tile viewer: one GeoJS map in pixel coordinates, one tile layer per entry of
// #tile-layers ({name, metadata, tiles, opacity, visible}), each with a checkbox and an
// opacity slider, and for a job the cells' outlines over them (#tile-outlines). Tiles and
// outlines come from the owner-checked endpoints with the admin session.
//
// A layer with `channels` (an input with channels or planes) gets a channel picker: each
// visible channel is one band of a large-image style, its frame coloured from black to the
// channel's colour between min and max (empty: large-image's "auto" range of that frame),
// composited with "lighten". A layer with `planes` > 1 follows the z slider: frames run
// channel by channel within a plane, so channel c of plane z is frame z * channels + c.
(function () {
  "use strict";
  const layers = JSON.parse(document.getElementById("tile-layers").textContent);
  const controls = document.getElementById("tile-viewer-controls");
  // The plane shown, and what follows it besides the tile layers (the outlines of a stack).
  const view = { z: 0, onPlane: [] };
  const getJSON = (url) =>
    fetch(url, { credentials: "same-origin" }).then((response) => {
      if (!response.ok) throw new Error(`${url}: ${response.status}`);
      return response.json();
    });

  function element(tag, properties, style) {
    const node = Object.assign(document.createElement(tag), properties);
    if (style) node.style.cssText = style;
    return node;
  }

  const INLINE_LABEL = "display: inline; float: none; width: auto; padding: 0 6px;";

  function bound(value) {
    return value === "" || Number.isNaN(Number(value)) ? "auto" : Number(value);
  }

  // The layer's tile URL for the current plane and channels; null when nothing is to be drawn.
  function tileUrl(spec) {
    if (spec.channels) {
      const count = spec.channels.length;
      const bands = spec.channels
        .map((channel, index) => ({ channel, index }))
        .filter(({ channel }) => channel.visible)
        .map(({ channel, index }) => ({
          frame: view.z * count + index,
          palette: ["#000000", channel.color],
          min: bound(channel.min ?? ""),
          max: bound(channel.max ?? ""),
          composite: "lighten",
        }));
      if (!bands.length) return null;
      return `${spec.tiles}?style=${encodeURIComponent(JSON.stringify({ bands }))}`;
    }
    if (spec.planes > 1) return `${spec.tiles}?frame=${view.z}`;
    return spec.tiles;
  }

  function refresh(entry) {
    const url = tileUrl(entry.spec);
    if (url !== null) entry.layer.url(url);
    entry.layer.visible(entry.toggle.checked && url !== null).draw();
  }

  function addLayerControls(entry) {
    const { spec, layer } = entry;
    const row = element("div", { className: "tile-layer-control" });
    entry.toggle = element("input", {
      type: "checkbox", checked: spec.visible, id: `tile-layer-${spec.name}`,
    });
    entry.toggle.addEventListener("change", () => refresh(entry));
    const label = element("label", { htmlFor: entry.toggle.id, textContent: ` ${spec.name} ` },
      INLINE_LABEL);
    const opacity = element("input", {
      type: "range", min: 0, max: 100, value: Math.round(spec.opacity * 100),
      title: `${spec.name} opacity`,
    });
    opacity.addEventListener("input", () => layer.opacity(opacity.value / 100));
    row.append(entry.toggle, label, opacity);
    controls.append(row);
  }

  function addChannelPicker(entry) {
    const { spec } = entry;
    const picker = element("div", { id: "tile-channel-picker" }, "padding: 4px 0 4px 24px;");
    const boxes = [];
    // At most max_bands channels at once: a style has that many bands at most.
    const limit = () => {
      const shown = spec.channels.filter((channel) => channel.visible).length;
      boxes.forEach((box) => { box.disabled = !box.checked && shown >= spec.max_bands; });
    };
    spec.channels.forEach((channel, index) => {
      const row = element("div", { className: "tile-channel-control" });
      const box = element("input", {
        type: "checkbox", checked: channel.visible, id: `tile-channel-${index}`,
      });
      box.addEventListener("change", () => {
        channel.visible = box.checked;
        limit();
        refresh(entry);
      });
      boxes.push(box);
      const label = element("label", { htmlFor: box.id, textContent: ` ${channel.name} ` },
        INLINE_LABEL);
      const colour = element("input", {
        type: "color", value: channel.color, title: `${channel.name} colour`,
      });
      colour.addEventListener("change", () => { channel.color = colour.value; refresh(entry); });
      row.append(box, label, colour);
      for (const end of ["min", "max"]) {
        const input = element("input", {
          type: "number", placeholder: `${end} (auto)`, title: `${channel.name} ${end}`,
          className: `tile-channel-${end}`,
        }, "width: 7em; margin-left: 6px;");
        input.addEventListener("change", () => { channel[end] = input.value; refresh(entry); });
        row.append(input);
      }
      picker.append(row);
    });
    limit();
    controls.append(picker);
  }

  function addPlaneSlider(entries, planes) {
    const row = element("div", { className: "tile-plane-control" });
    const slider = element("input", {
      type: "range", id: "tile-plane", min: 0, max: planes - 1, value: 0, title: "z plane",
    });
    const label = element("label", { htmlFor: slider.id, textContent: `z 0 / ${planes - 1}` },
      INLINE_LABEL);
    slider.addEventListener("input", () => {
      view.z = Number(slider.value);
      label.textContent = `z ${view.z} / ${planes - 1}`;
      entries.filter((entry) => entry.spec.planes > 1).forEach(refresh);
      view.onPlane.forEach((follow) => follow());
    });
    row.append(label, slider);
    controls.append(row);
  }

  // The cells' outlines ({url, visible, color}): the job's QuPath GeoJSON, drawn as closed
  // lines (the canvas renderer has lines, not polygons). Clicking inside a cell shows its
  // metrics; it is found by bounding box, then by the even-odd rule on its rings.
  const outlines = JSON.parse(document.getElementById("tile-outlines")?.textContent || "null");

  function ringsOf(geometry) {
    const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polygons.flat();
  }

  function inside(rings, x, y) {
    let crossings = 0;
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i];
        const [xj, yj] = ring[j];
        if ((yi > y) !== (yj > y) && x < xj + ((y - yj) * (xi - xj)) / (yi - yj)) crossings++;
      }
    }
    return crossings % 2 === 1;
  }

  // A stack's outlines are per plane (geometry.plane.z, as QuPath writes it); 2D ones have none.
  const onPlane = ({ z }) => z === null || z === view.z;

  function cellAt(cells, x, y) {
    return cells.find(({ box, rings, z }) => onPlane({ z }) &&
      x >= box[0] && x <= box[2] && y >= box[1] && y <= box[3] && inside(rings, x, y));
  }

  function describe(feature) {
    const measurements = feature.properties.measurements || {};
    const values = Object.entries(measurements)
      .map(([name, value]) => `${name} ${Number.isInteger(value) ? value : value.toPrecision(4)}`);
    return `${feature.properties.name}: ${values.join(", ")}`;
  }

  function addOutlines(map, spec) {
    const layer = map.createLayer("feature", { renderer: "canvas", features: ["line"] });
    const panel = document.getElementById("tile-cell-metrics");
    let loading = null;
    const load = () => {
      loading ??= getJSON(spec.url).then((collection) => {
        const cells = collection.features.map((feature) => {
          const rings = ringsOf(feature.geometry);
          const xs = rings.flat().map((p) => p[0]);
          const ys = rings.flat().map((p) => p[1]);
          const box = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
          return { feature, rings, box, z: feature.geometry.plane?.z ?? null };
        });
        const lines = layer.createFeature("line")
          .line((ring) => ring)
          .position((point) => ({ x: point[0], y: point[1] }))
          .style({ closed: true, strokeColor: spec.color, strokeWidth: 1.5, strokeOpacity: 0.9 });
        const showPlane = () => {
          lines.data(cells.filter(onPlane).flatMap(({ rings }) => rings));
          layer.draw();
        };
        view.onPlane.push(showPlane);
        showPlane();
        map.geoOn(geo.event.mouseclick, (event) => {
          if (!layer.visible()) return;
          const cell = cellAt(cells, event.geo.x, event.geo.y);
          panel.textContent = cell ? describe(cell.feature) : "";
        });
        window.cellserveOutlines = cells;
      }).catch((error) => {
        loading = null;  // switching the layer on again tries again
        panel.textContent = `The outlines could not load: ${error.message}`;
      });
      return loading;
    };
    const row = element("div", { className: "tile-layer-control" });
    const toggle = element("input", { type: "checkbox", checked: spec.visible, id: "tile-outlines-toggle" });
    toggle.addEventListener("change", () => {
      layer.visible(toggle.checked).draw();
      if (toggle.checked) load();
    });
    row.append(toggle, element("label", { htmlFor: toggle.id, textContent: " outlines " }, INLINE_LABEL));
    controls.append(row);
    layer.visible(spec.visible);
    if (spec.visible) load();
  }

  Promise.all(layers.map((spec) => getJSON(spec.metadata))).then((metas) => {
    const base = metas[0];
    const params = geo.util.pixelCoordinateParams(
      "#tile-viewer", base.sizeX, base.sizeY, base.tileWidth, base.tileHeight);
    const map = geo.map(params.map);
    window.cellserveTileMap = map;
    const entries = layers.map((spec, index) => {
      const meta = metas[index];
      // Each layer has its own tile size (a small input is one tile; its mask is 256 px).
      const own = geo.util.pixelCoordinateParams(
        "#tile-viewer", meta.sizeX, meta.sizeY, meta.tileWidth, meta.tileHeight).layer;
      own.url = tileUrl(spec) ?? spec.tiles;
      own.renderer = "canvas";
      own.opacity = spec.opacity;
      const entry = { spec, layer: map.createLayer("osm", own) };
      addLayerControls(entry);
      if (spec.channels) addChannelPicker(entry);
      entry.layer.visible(spec.visible && tileUrl(spec) !== null);
      return entry;
    });
    const planes = Math.max(1, ...layers.map((spec) => spec.planes || 1));
    if (planes > 1) addPlaneSlider(entries, planes);
    if (outlines) addOutlines(map, outlines);
    map.draw();
  }).catch((error) => {
    controls.textContent = `The tile viewer could not load: ${error.message}`;
  });
})();
