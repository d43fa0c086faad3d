// Admin tile viewer: one GeoJS map in pixel coordinates, one tile layer per entry of
// #tile-layers ({name, metadata, tiles, opacity, visible}), each with a checkbox and an
// opacity slider. Tiles come from the owner-checked tile endpoints with the admin session.
(function () {
  "use strict";
  const layers = JSON.parse(document.getElementById("tile-layers").textContent);
  const controls = document.getElementById("tile-viewer-controls");
  const getJSON = (url) =>
    fetch(url, { credentials: "same-origin" }).then((response) => {
      if (!response.ok) throw new Error(`${url}: ${response.status}`);
      return response.json();
    });

  function addControls(spec, layer) {
    const row = document.createElement("div");
    row.className = "tile-layer-control";
    const toggle = document.createElement("input");
    toggle.type = "checkbox";
    toggle.checked = spec.visible;
    toggle.id = `tile-layer-${spec.name}`;
    toggle.addEventListener("change", () => layer.visible(toggle.checked).draw());
    const label = document.createElement("label");
    label.htmlFor = toggle.id;
    label.textContent = ` ${spec.name} `;
    label.style.cssText = "display: inline; float: none; width: auto; padding: 0 6px;";
    const opacity = document.createElement("input");
    opacity.type = "range";
    opacity.min = 0;
    opacity.max = 100;
    opacity.value = Math.round(spec.opacity * 100);
    opacity.title = `${spec.name} opacity`;
    opacity.addEventListener("input", () => layer.opacity(opacity.value / 100));
    row.append(toggle, label, opacity);
    controls.append(row);
  }

  Promise.all(layers.map((spec) => getJSON(spec.metadata))).then((metas) => {
    const base = metas[0];
    const params = geo.util.pixelCoordinateParams(
      "#tile-viewer", base.sizeX, base.sizeY, base.tileWidth, base.tileHeight);
    const map = geo.map(params.map);
    window.cellserveTileMap = map;
    layers.forEach((spec, index) => {
      const meta = metas[index];
      // Each layer has its own tile size (a small input is one tile; its mask is 256 px).
      const own = geo.util.pixelCoordinateParams(
        "#tile-viewer", meta.sizeX, meta.sizeY, meta.tileWidth, meta.tileHeight).layer;
      own.url = spec.tiles;
      own.renderer = "canvas";
      own.opacity = spec.opacity;
      const layer = map.createLayer("osm", own);
      layer.visible(spec.visible);
      addControls(spec, layer);
    });
    map.draw();
  }).catch((error) => {
    controls.textContent = `The tile viewer could not load: ${error.message}`;
  });
})();
