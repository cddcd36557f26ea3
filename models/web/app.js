// Upload a photo, draw numbered face boxes, and one probability bar chart per face.
(function () {
  const form = document.getElementById("upload");
  const input = document.getElementById("file");
  const drop = document.getElementById("drop");
  const message = document.getElementById("message");
  const result = document.getElementById("result");
  const canvas = document.getElementById("canvas");
  const facesDiv = document.getElementById("faces");

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "";
  }

  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (e) => {
    e.preventDefault(); drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, (e) => {
    e.preventDefault(); drop.classList.remove("over");
  }));
  drop.addEventListener("drop", (e) => {
    if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; form.requestSubmit(); }
  });

  function drawImage(file, faces) {
    return new Promise((resolve) => {
      const img = new Image();
      img.onload = () => {
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        const lw = Math.max(2, Math.round(canvas.width / 300));
        ctx.lineWidth = lw; ctx.font = `bold ${lw * 10}px sans-serif`;
        faces.forEach((f, i) => {
          const [x, y, w, h] = f.box;
          ctx.strokeStyle = "#22cc66"; ctx.strokeRect(x, y, w, h);
          const label = `${i + 1}: ${f.label}`;
          const tw = ctx.measureText(label).width;
          ctx.fillStyle = "rgba(0,0,0,0.7)"; ctx.fillRect(x, Math.max(0, y - lw * 12), tw + lw * 2, lw * 12);
          ctx.fillStyle = "#fff"; ctx.fillText(label, x + lw, Math.max(lw * 10, y - lw * 2));
        });
        URL.revokeObjectURL(img.src);
        resolve();
      };
      img.src = URL.createObjectURL(file);
    });
  }

  function faceCard(face, i) {
    const card = document.createElement("div");
    card.className = "face-card";
    const title = document.createElement("h2");
    title.textContent = `Face ${i + 1}: ${face.label} (${Math.round(face.confidence * 100)}%)`;
    card.appendChild(title);
    const chart = document.createElement("div");
    chart.className = "bar-chart";
    Object.entries(face.probabilities).forEach(([name, p]) => {
      const row = document.createElement("div");
      row.className = "bar-row" + (name === face.label ? " top" : "");
      const label = document.createElement("span"); label.textContent = name;
      const track = document.createElement("div"); track.className = "bar-track";
      const bar = document.createElement("div"); bar.className = "bar"; bar.style.width = `${(p * 100).toFixed(1)}%`;
      track.appendChild(bar);
      const value = document.createElement("span"); value.textContent = `${(p * 100).toFixed(1)}%`;
      row.append(label, track, value);
      chart.appendChild(row);
    });
    card.appendChild(chart);
    return card;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = input.files[0];
    if (!file) { say("Choose an image first.", true); return; }
    say("Recognising…", false);
    result.hidden = true; facesDiv.textContent = "";
    const body = new FormData(); body.append("file", file);
    let response, data;
    try {
      response = await fetch("/api/predict", { method: "POST", body });
      data = await response.json();
    } catch (err) {
      say("The server did not answer: is fer-web still running?", true); return;
    }
    if (!response.ok) { say(data.error || `Error ${response.status}`, true); return; }
    await drawImage(file, data.faces);
    data.faces.forEach((f, i) => facesDiv.appendChild(faceCard(f, i)));
    result.hidden = false;
    say(`${data.faces.length} face${data.faces.length === 1 ? "" : "s"} found.`, false);
  });
})();
