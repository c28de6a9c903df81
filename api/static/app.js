// Forecast explorer: builds a request from the form, runs it through the /v1 API, and shows
// the fan chart, quantiles, probabilities and channel decomposition of the result.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { job: null, summary: null, levers: {} };

// Every call carries the API key when one is given; errors come back as RFC 9457 problems.
async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  const key = $("api-key").value.trim();
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let problem = { detail: `${response.status} ${response.statusText}` };
    try { problem = await response.json(); } catch (_) { /* not JSON: keep the status line */ }
    throw Object.assign(new Error(problem.detail), { problem });
  }
  return response;
}

function clearErrors() {
  document.querySelectorAll(".error").forEach((node) => { node.textContent = ""; });
  document.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
}

// Put each message next to the field it names ("body.policy.digital.intensity" -> policy).
function showProblem(error) {
  const problem = error.problem || { detail: error.message };
  const errors = problem.errors || [{ field: "", message: problem.detail }];
  for (const { field, message } of errors) {
    const name = field.replace(/^body\./, "").split(".")[0];
    const slot = document.querySelector(`.error[data-field="${name}"]`) || $("form-error");
    slot.textContent = slot === $("form-error") ? problem.detail : `${field.replace(/^body\./, "")}: ${message}`;
    const input = document.getElementsByName(name)[0];
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

async function loadCatalogue() {
  clearErrors();
  try {
    const [presets, economies, levers] = await Promise.all(
      ["/v1/presets", "/v1/economies", "/v1/levers"].map((path) => api(path).then((r) => r.json())));
    const select = $("preset");
    select.replaceChildren(...Object.keys(presets).map((name) => new Option(name, name)));
    select.value = "high-level-opening";
    const describe = () => { $("preset-description").textContent = presets[select.value].description; };
    select.onchange = describe;
    describe();
    $("economies").replaceChildren(...Object.entries(economies.economies).map(([code, entry]) => {
      const label = document.createElement("label");
      label.innerHTML = `<input type="checkbox" name="economies" value="${code}" checked> ${code}`;
      label.title = entry.name;
      return label;
    }));
    state.levers = levers;
    buildLevers(levers);
    showTrackRecord(await api("/v1/track-record").then((r) => r.json()));
  } catch (error) {
    showProblem(error);
  }
}

// How far to trust the fans: the backtest's pooled coverage and CRPS skill (docs/validation.md).
function showTrackRecord(record) {
  const skill = (100 * record.skill_vs_best).toFixed(1);
  $("track-record-text").textContent =
    `Baseline forecasts made in ${record.origins.join(", ")} with the data of the time, ` +
    `${record.horizon_years} years ahead, against what happened (Penn World Table 9.1, ${record.cells} ` +
    `economy-years): the 90% bands held the realized TFP growth ${(100 * record.coverage_90).toFixed(0)}% ` +
    `of the time and the 50% bands ${(100 * record.coverage_50).toFixed(0)}%; the forecasts' CRPS is ` +
    `${Math.abs(skill)}% ${record.skill_vs_best >= 0 ? "better" : "worse"} than the best naive benchmark ` +
    `(${record.best_benchmark.replace("_", " ")}). Model ${record.model_version}.`;
}

function buildLevers(levers) {
  $("levers").replaceChildren(...Object.entries(levers).map(([name, lever]) => {
    const [low, high] = lever.ranges.intensity;
    const box = document.createElement("div");
    box.className = "lever";
    box.innerHTML = `
      <label for="${name}-intensity">${name}: intensity <output id="${name}-value">0.50</output></label>
      <input id="${name}-intensity" type="range" min="${low}" max="${high}" step="0.05" value="0.5">
      <label for="${name}-start">start year</label>
      <input id="${name}-start" type="number" value="2026" min="${lever.ranges.start_year[0]}">
      <label for="${name}-phase">phase-in (years)</label>
      <input id="${name}-phase" type="number" value="5" min="0" max="${lever.ranges.phase_in_years[1]}">
      <p class="hint">${lever.description}</p>`;
    const slider = box.querySelector("input[type=range]");
    slider.oninput = () => { box.querySelector("output").textContent = Number(slider.value).toFixed(2); };
    return box;
  }));
}

function requestBody() {
  const number = (id) => Number($(id).value);
  let policy = $("preset").value;
  if ($("custom").checked) {
    policy = { name: "explorer" };
    for (const name of Object.keys(state.levers)) {
      policy[name] = { intensity: number(`${name}-intensity`), start_year: number(`${name}-start`),
        phase_in_years: number(`${name}-phase`) };
    }
  }
  const economies = [...document.querySelectorAll("input[name=economies]:checked")].map((box) => box.value);
  return { policy, economies, horizon_years: number("horizon_years"), draws: number("draws"),
    seed: number("seed"), thresholds: [number("target") / 100], compare_to_baseline: true };
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  $("results").hidden = true;
  try {
    const response = await api("/v1/forecasts", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(requestBody()) });
    state.job = await response.json();
    $("job").hidden = false;
    poll();
  } catch (error) {
    showProblem(error);
  }
}

async function poll() {
  const job = await (await api(`/v1/forecasts/${state.job.id}`)).json();
  $("progress").value = job.progress;
  $("status").textContent = `Job ${job.id.slice(0, 8)}: ${job.status}` +
    (job.status === "running" ? ` (${Math.round(100 * job.progress)}%)` : "") + (job.error ? ` — ${job.error}` : "");
  if (job.status === "queued" || job.status === "running") {
    setTimeout(() => poll().catch(showProblem), 400);
  } else if (job.status === "succeeded") {
    state.summary = await (await api(`/v1/forecasts/${job.id}/summary`)).json();
    showResults();
  }
}

// Value of a summary variable at named coordinates (indices), whatever the order of its dims.
function at(name, index) {
  const variable = state.summary.variables[name];
  return variable.dims.reduce((values, dim) => values[index[dim]], variable.values);
}

const percent = (x) => (x === null ? "–" : (100 * x).toFixed(2));

function showResults() {
  const { coords } = state.summary;
  const select = $("economy");
  select.replaceChildren(...coords.economy.map((code) => new Option(code, code)));
  select.onchange = render;
  const base = `/v1/forecasts/${state.job.id}`;
  for (const [id, path, file] of [["download-netcdf", "/data?format=netcdf", "forecast.nc"],
    ["download-csv", "/data?format=csv", "summary.csv"]]) {
    $(id).onclick = async (event) => {
      event.preventDefault();
      const link = Object.assign(document.createElement("a"), {
        href: URL.createObjectURL(await (await api(base + path)).blob()), download: file });
      link.click();
    };
  }
  $("results").hidden = false;
  render();
}

async function render() {
  const { coords } = state.summary;
  const economy = coords.economy.indexOf($("economy").value);
  const year = coords.year.length - 1;
  $("table-year").textContent = coords.year[year];
  // Quantiles, mean and its Monte-Carlo error of annual TFP growth (the headline) in the last year.
  const levels = coords.quantile.map((q, i) => [q, i]);
  $("quantiles").tHead.innerHTML = "<tr><th scope='col'>Scenario</th>" +
    levels.map(([q]) => `<th scope="col">p${Math.round(100 * q)}</th>`).join("") +
    "<th scope='col'>mean ± MCSE</th></tr>";
  const rows = [["policy", ""]];
  if (state.summary.variables.baseline_tfp_growth_quantile) rows.push(["baseline", "baseline_"]);
  $("quantiles").tBodies[0].innerHTML = rows.map(([label, prefix]) => `<tr><th scope="row">${label}</th>` +
    levels.map(([, quantile]) => `<td>${percent(at(`${prefix}tfp_growth_quantile`, { quantile, year, economy }))}</td>`).join("") +
    `<td>${percent(at(`${prefix}tfp_growth_mean`, { year, economy }))} ± ` +
    `${percent(at(`${prefix}tfp_growth_mcse`, { year, economy }))}</td></tr>`).join("");
  const events = coords.threshold.map((t, threshold) => [`TFP growth > ${percent(t)}% in ${coords.year[year]}`,
    at("tfp_growth_prob_above", { threshold, year, economy }),
    at("tfp_growth_prob_above_mcse", { threshold, year, economy })]);
  if (state.summary.variables.prob_beats_baseline) {
    events.push([`TFP level above the baseline in ${coords.year[year]}`,
      at("prob_beats_baseline", { year, economy }), at("prob_beats_baseline_mcse", { year, economy })]);
  }
  // Gains against the baseline in the last year, as log changes of real income: dynamic (TFP)
  // plus static (ACR gains from trade shares) is the total.
  $("gains").hidden = !state.summary.variables.diff_real_income_mean;
  if (!$("gains").hidden) {
    const total = at("diff_real_income_mean", { year, economy });
    const staticGain = at("diff_static_gain_mean", { year, economy });
    $("gains").tBodies[0].innerHTML = [["dynamic (TFP)", total - staticGain], ["static (gains from trade)", staticGain],
      ["total (real income)", total]].map(([label, value]) =>
      `<tr><th scope="row">${label}</th><td>${percent(value)}</td></tr>`).join("");
  }
  $("probabilities").tBodies[0].innerHTML = events.map(([label, p, error]) =>
    `<tr><th scope="row">${label}</th><td>${p.toFixed(3)}</td><td>${error.toFixed(3)}</td></tr>`).join("");
  // Channel decomposition of the policy's change in TFP growth, averaged over the horizon.
  if (state.summary.variables.diff_channel_growth_mean) {
    const changes = coords.channel.map((name, channel) => [name, coords.year.reduce(
      (sum, _, y) => sum + at("diff_channel_growth_mean", { year: y, economy, channel }), 0) / coords.year.length]);
    const largest = Math.max(1e-12, ...changes.map(([, change]) => Math.abs(change)));
    $("channels").tBodies[0].innerHTML = changes.map(([name, change]) => `<tr><th scope="row">${name}</th>` +
      `<td>${(100 * change).toFixed(3)}</td><td><span class="bar ${change < 0 ? "negative" : ""}" ` +
      `style="width:${(100 * Math.abs(change) / largest).toFixed(0)}%"></span></td></tr>`).join("");
  }
  const chart = await api(`/v1/forecasts/${state.job.id}/fanchart.png?economy=${encodeURIComponent($("economy").value)}`);
  $("fanchart").src = URL.createObjectURL(await chart.blob());
}

document.addEventListener("DOMContentLoaded", () => {
  $("request").addEventListener("submit", submit);
  $("custom").onchange = () => { $("levers").hidden = !$("custom").checked; $("preset").disabled = $("custom").checked; };
  $("api-key").addEventListener("change", loadCatalogue);
  loadCatalogue();
});
