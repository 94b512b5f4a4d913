// The labelling page: shows the chips of one point at a time and sends each answer to the local server.
// Every action goes through one queue, so fast key presses are handled in order and none is lost.
"use strict";

const ANSWER_TEXT = { "1": "mining", "0": "not mining", "u": "unsure" };
// The server's key for this page, sent with every answer in a header: a page of another site cannot send that header
// (nor read this page to learn the key), so the server knows that an answer comes from here.
const SESSION_KEY = document.querySelector('meta[name="smallmines-session"]').content;
let state = null;
let index = 0;
let queue = Promise.resolve();

const $ = (id) => document.getElementById(id);

async function getJSON(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw new Error("the labelling server does not answer: was 'smallmines label' stopped? " +
                    "Run it again to go on; every answer given so far is saved.");
  }
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function showProgress(progress) {
  $("progress").textContent = `${progress.labelled} / ${progress.n} labelled` +
    (progress.unsure ? ` (${progress.unsure} unsure)` : "");
}

function showAnswer(answer) {
  const node = $("answer");
  if (answer === null) {
    node.textContent = "none yet";
    node.className = "";
  } else if (answer.confidence === "unsure") {
    node.textContent = "unsure";
    node.className = "unsure";
  } else {
    node.textContent = ANSWER_TEXT[answer.reference];
    node.className = `sure-${answer.reference}`;
  }
}

function note(text) {
  const div = document.createElement("div");
  div.className = "note";
  div.textContent = text;
  return div;
}

function chipRows(point) {
  const table = $("chips");
  table.replaceChildren();
  const head = table.insertRow();
  head.appendChild(document.createElement("th"));
  for (const title of Object.values(state.kinds)) {
    const th = document.createElement("th");
    th.textContent = title;
    head.appendChild(th);
  }
  point.scenes.forEach((scene, s) => {
    const row = table.insertRow();
    const th = document.createElement("th");
    th.className = "scene";
    th.textContent = scene.label;
    row.appendChild(th);
    for (const chip of scene.chips) {
      const cell = row.insertCell();
      if (scene.outside) {
        cell.appendChild(note("the point is outside this scene"));
      } else if (chip.missing.length) {
        cell.appendChild(note(`the scene has no ${chip.missing.join(", ")} (it has ${scene.bands.join(", ")})`));
      } else {
        const img = document.createElement("img");
        img.className = "chip";
        img.alt = `${chip.title}, ${scene.label}`;
        img.dataset.kind = chip.kind;
        img.dataset.scene = String(s);
        img.src = `chip/${point.index}/${s}/${chip.kind}.png`;
        cell.appendChild(img);
      }
    }
  });
}

async function show(position) {
  index = ((position % state.n) + state.n) % state.n;
  const point = await getJSON(`api/point/${index}`);
  $("plot-id").textContent = point.plot_id;
  $("position").textContent = `${index + 1} of ${state.n} in this session's order`;
  $("lon").textContent = point.lon.toFixed(6);
  $("lat").textContent = point.lat.toFixed(6);
  showAnswer(point.answer);
  chipRows(point);
  document.body.dataset.plotId = point.plot_id;
  document.body.dataset.index = String(index);
}

async function answer(key) {
  const result = await getJSON("api/answer", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Smallmines-Session": SESSION_KEY },
    body: JSON.stringify({ index: index, answer: key }),
  });
  if (result.next === null) {
    showAnswer(key === "u" ? { reference: "", confidence: "unsure" } : { reference: key, confidence: "sure" });
    showMessage(`All ${result.n} points are labelled and saved in ${state.labels_file}. ` +
                "You can go back with the arrows to change an answer, or close this page.", "done");
  } else {
    await show(result.next);
  }
  showProgress(result);  // after the next point is shown, so that the two change together
}

function enqueue(action) {
  queue = queue.then(action).then(() => {
    if ($("message").className === "error") showMessage("", "");
  }).catch((error) => showMessage(error.message, "error"));
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || state === null) return;
  const key = event.key.toLowerCase();
  if (key in ANSWER_TEXT) {
    if (!event.repeat) enqueue(() => answer(key));  // a key held down answers once, not for the points after it too
  } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
    const step = event.key === "ArrowRight" ? 1 : -1;
    enqueue(() => show(index + step));
  } else {
    return;
  }
  event.preventDefault();
});

document.getElementById("buttons").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || state === null) return;
  if (button.dataset.key) enqueue(() => answer(button.dataset.key));
  else enqueue(() => show(index + Number(button.dataset.move)));
});

enqueue(async () => {
  state = await getJSON("api/state");
  $("interpreter").textContent = state.interpreter;
  $("file").textContent = state.labels_file;
  if (state.done) showMessage(`All ${state.n} points are labelled. Use the arrows to review them.`, "done");
  await show(state.start);
  showProgress(state);
});
