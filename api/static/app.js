// Forecast explorer: builds a request from the form, runs it through the /v1 API, and shows
// the result: a forecast's fan chart, quantiles, probabilities and channels, or an analysis
// (attribution to the levers, comparison of policies, sensitivity). The URL's fragment names
// the job (#attributions/ID), so a link reopens the same results.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { collection: "forecasts", job: null, summary: null, result: null, levers: {}, presets: {} };
const TITLES = { forecasts: "Forecast", attributions: "Attribution to the levers",
  comparisons: "Comparison of policies", sensitivities: "Sensitivity" };
const JOB_LINK = /^#(forecasts|attributions|comparisons|sensitivities)\/([0-9a-f]{32})$/;

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
    state.presets = presets;
    const select = $("preset");
    select.replaceChildren(...Object.keys(presets).map((name) => new Option(name, name)));
    select.value = "high-level-opening";
    const describe = () => {
      $("preset-description").textContent = presets[select.value].description;
      fillLevers(presets[select.value].policy);  // custom mode starts from the chosen preset
    };
    select.onchange = describe;
    $("compare-presets").replaceChildren(...Object.keys(presets).map((name) => {
      const label = document.createElement("label");
      const ticked = name === "baseline" || name === "high-level-opening" ? "checked" : "";
      label.innerHTML = `<input type="checkbox" name="compare" value="${name}" ${ticked}> ${name}`;
      return label;
    }));
    $("economies").replaceChildren(...Object.entries(economies.economies).map(([code, entry]) => {
      const label = document.createElement("label");
      label.innerHTML = `<input type="checkbox" name="economies" value="${code}" checked> ${code}`;
      label.title = entry.name;
      return label;
    }));
    state.levers = levers;
    buildLevers(levers);
    describe();
    loadHistory();
    openFromLink();
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
      <label for="${name}-enacting">enacting economies (codes, comma-separated; empty: all)</label>
      <input id="${name}-enacting" type="text" placeholder="all">
      <label for="${name}-partners">partners they open to (empty: all)</label>
      <input id="${name}-partners" type="text" placeholder="all">
      <p class="hint">${lever.description}</p>`;
    const slider = box.querySelector("input[type=range]");
    slider.oninput = () => { box.querySelector("output").textContent = Number(slider.value).toFixed(2); };
    return box;
  }));
}

// Set the lever controls to a policy's values (a preset's, when custom mode starts from it).
function fillLevers(policy) {
  for (const name of Object.keys(state.levers)) {
    const lever = policy[name];
    $(`${name}-intensity`).value = lever.intensity;
    $(`${name}-value`).textContent = Number(lever.intensity).toFixed(2);
    $(`${name}-start`).value = lever.start_year;
    $(`${name}-phase`).value = lever.phase_in_years;
    $(`${name}-enacting`).value = lever.enacting.join(",");
    $(`${name}-partners`).value = lever.partners.join(",");
  }
}

const codes = (id) => $(id).value.split(",").map((code) => code.trim().toUpperCase()).filter(Boolean);
const number = (id) => Number($(id).value);

// The levers as set in custom mode, over the chosen preset (which keeps its fragmentation).
function customPolicy() {
  const policy = { preset: $("preset").value, name: "explorer" };
  for (const name of Object.keys(state.levers)) {
    policy[name] = { intensity: number(`${name}-intensity`), start_year: number(`${name}-start`),
      phase_in_years: number(`${name}-phase`), enacting: codes(`${name}-enacting`),
      partners: codes(`${name}-partners`) };
  }
  return policy;
}

function requestBody(collection) {
  const economies = [...document.querySelectorAll("input[name=economies]:checked")].map((box) => box.value);
  const run = { economies, horizon_years: number("horizon_years"), draws: number("draws"), seed: number("seed") };
  const policy = $("custom").checked ? customPolicy() : $("preset").value;
  if (collection === "comparisons") {
    const policies = [...document.querySelectorAll("input[name=compare]:checked")].map((box) => box.value);
    return { ...run, policies: $("compare-custom").checked ? [...policies, customPolicy()] : policies };
  }
  if (collection === "forecasts") {
    return { ...run, policy, thresholds: [number("target") / 100], compare_to_baseline: true };
  }
  return { ...run, policy };
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const collection = $("analysis").value;
  try {
    const response = await api(`/v1/${collection}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(requestBody(collection)) });
    openJob(collection, (await response.json()).id);
  } catch (error) {
    showProblem(error);
  }
}

// Follow a job and show its results; the URL's fragment names it, so the link can be shared.
function openJob(collection, id) {
  state.collection = collection;
  state.job = { id };
  history.replaceState(null, "", `#${collection}/${id}`);
  $("share-link").href = location.href;
  $("share-link").textContent = location.href;
  $("job-title").textContent = TITLES[collection];
  $("job").hidden = false;
  $("results").hidden = true;
  $("analysis-results").hidden = true;
  poll().catch(showProblem);
}

function openFromLink() {
  const match = JOB_LINK.exec(location.hash);
  if (match && !(state.job && state.job.id === match[2] && state.collection === match[1])) {
    openJob(match[1], match[2]);
  }
}

async function poll() {
  const base = `/v1/${state.collection}/${state.job.id}`;
  const job = await (await api(base)).json();
  $("progress").value = job.progress;
  $("status").textContent = `Job ${job.id.slice(0, 8)}: ${job.status}` +
    (job.status === "running" ? ` (${Math.round(100 * job.progress)}%)` : "") + (job.error ? ` — ${job.error}` : "");
  if (job.status === "queued" || job.status === "running") {
    setTimeout(() => poll().catch(showProblem), 400);
    return;
  }
  loadHistory();
  if (job.status !== "succeeded") return;
  if (state.collection === "forecasts") {
    state.summary = await (await api(`${base}/summary`)).json();
    showResults();
  } else {
    state.result = await (await api(`${base}/result`)).json();
    showAnalysis();
  }
}

// The latest jobs of every kind, each a link that reopens it.
async function loadHistory() {
  try {
    const jobs = await (await api("/v1/jobs?limit=15")).json();
    $("history-list").replaceChildren(...jobs.map((job) => {
      const item = document.createElement("li");
      const link = Object.assign(document.createElement("a"), {
        href: `#${job.links.self.split("/")[2]}/${job.id}`, textContent: `${job.kind} ${job.id.slice(0, 8)}` });
      item.append(link, ` — ${job.status}, ${job.created_at.slice(0, 19).replace("T", " ")} UTC`);
      return item;
    }));
  } catch (_) { /* the list is a convenience: an unauthorised page shows the key error already */ }
}

// Value of a document's variable at named coordinates (indices), whatever the order of its dims.
function valueAt(document, name, index) {
  const variable = document.variables[name];
  return variable.dims.reduce((values, dim) => values[index[dim]], variable.values);
}
const at = (name, index) => valueAt(state.summary, name, index);

const percent = (x) => (x === null ? "–" : (100 * x).toFixed(2));

function download(id, path, file) {
  $(id).onclick = async (event) => {
    event.preventDefault();
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(await (await api(path)).blob()), download: file });
    link.click();
  };
}

function showResults() {
  const { coords } = state.summary;
  const select = $("economy");
  select.replaceChildren(...coords.economy.map((code) => new Option(code, code)));
  select.onchange = render;
  const base = `/v1/forecasts/${state.job.id}`;
  download("download-netcdf", `${base}/data?format=netcdf`, "forecast.nc");
  download("download-csv", `${base}/data?format=csv`, "summary.csv");
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

// An analysis's table for the chosen economy: contributions by lever, policies side by side, or
// the Sobol' indices by group, with their Monte-Carlo errors.
function showAnalysis() {
  const { coords } = state.result;
  $("analysis-economy").replaceChildren(...coords.economy.map((code) => new Option(code, code)));
  $("analysis-economy").onchange = () => renderAnalysis().catch(showProblem);
  const base = `/v1/${state.collection}/${state.job.id}`;
  download("analysis-netcdf", `${base}/data?format=netcdf`, "result.nc");
  download("analysis-csv", `${base}/data?format=csv`, "result.csv");
  $("analysis-results").hidden = false;
  renderAnalysis().catch(showProblem);
}

const bar = (value, largest) => `<span class="bar ${value < 0 ? "negative" : ""}" ` +
  `style="width:${(100 * Math.abs(value) / Math.max(largest, 1e-12)).toFixed(0)}%"></span>`;

function tableOf(head, rows) {
  $("analysis-table").tHead.innerHTML = `<tr>${head.map((h) => `<th scope="col">${h}</th>`).join("")}</tr>`;
  $("analysis-table").tBodies[0].innerHTML = rows.map(([label, ...cells]) =>
    `<tr><th scope="row">${label}</th>${cells.map((cell) => `<td>${cell}</td>`).join("")}</tr>`).join("");
}

async function renderAnalysis() {
  const result = state.result;
  const { coords } = result;
  const economy = coords.economy.indexOf($("analysis-economy").value);
  const get = (name, index) => valueAt(result, name, { economy, ...index });
  const pp = (x) => (100 * x).toFixed(3);
  if (state.collection === "attributions") {
    const year = coords.year.length - 1;
    const rows = coords.lever.map((name, lever) => [name, get("tfp", { lever, year }), get("tfp_mcse", { lever, year })]);
    rows.push(["interaction", get("tfp_interaction", { year }), get("tfp_interaction_mcse", { year })]);
    rows.push(["total", get("tfp_total", { year }), get("tfp_total_mcse", { year })]);
    const largest = Math.max(...rows.map(([, value]) => Math.abs(value)));
    $("analysis-heading").textContent =
      `Contributions to the TFP level in ${coords.year[year]} against the baseline (% of base-year TFP)`;
    tableOf(["Lever", "Contribution", "± MCSE", ""], rows.map(([name, value, error]) =>
      [name, pp(value), pp(error), bar(value, largest)]));
    $("analysis-reading").textContent = "Exact Shapley values over every sub-mix on the same draws: the " +
      "levers' contributions add up to the total; the interaction is how far the levers are from adding " +
      "up when each acts alone (already shared among them, not to be added).";
  } else if (state.collection === "comparisons") {
    const year = coords.year.length - 1;
    $("analysis-heading").textContent = `TFP level in ${coords.year[year]} against the base year, each ` +
      "policy on the same draws (%)";
    tableOf(["Policy", "Level change", "± MCSE", `vs ${coords.policy[0]} (pp)`, "± paired MCSE", "P(ranks first)"],
      coords.policy.map((name, policy) => [name, pp(get("tfp_mean", { policy, year }) - 1),
        pp(get("tfp_mcse", { policy, year })), pp(get("tfp_difference", { policy, other: 0, year })),
        pp(get("tfp_difference_mcse", { policy, other: 0, year })),
        get("prob_first", { policy, year }).toFixed(3)]));
    $("analysis-reading").textContent = "Differences are taken draw by draw (common random numbers), so " +
      "their error is far smaller than either forecast's spread; P(ranks first) is the share of draws in " +
      "which the policy gives the highest TFP level.";
  } else {
    const output = coords.output.indexOf(coords.output.includes("tfp_effect") ? "tfp_effect" : "tfp");
    const rows = coords.group.map((name, group) => [name, coords.kind[group],
      get("total_order", { output, group }), get("total_order_conf", { output, group }),
      get("first_order", { output, group }), get("first_order_conf", { output, group })])
      .sort((a, b) => b[2] - a[2]);
    $("analysis-heading").textContent = `What drives the spread of the ${coords.output[output] === "tfp_effect"
      ? "policy effect on TFP" : "TFP level"} at the horizon (Sobol' indices)`;
    tableOf(["Group", "Kind", "Total", "± 95%", "First order", "± 95%", ""], rows.map(
      ([name, kind, total, totalConf, first, firstConf]) => [name, kind, total.toFixed(3), totalConf.toFixed(3),
        first.toFixed(3), firstConf.toFixed(3), bar(total, 1)]));
    $("analysis-reading").textContent = "Share of the variance explained by each group of random inputs: " +
      "alone (first order) and with its interactions (total); parameters are drawn once per draw, " +
      "shocks along the path.";
  }
  const chart = $("analysis-chart");
  chart.hidden = state.collection === "comparisons";
  if (!chart.hidden) {
    const png = await api(`/v1/${state.collection}/${state.job.id}/chart.png?economy=` +
      encodeURIComponent($("analysis-economy").value));
    chart.src = URL.createObjectURL(await png.blob());
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("request").addEventListener("submit", submit);
  $("analysis").onchange = () => { $("compare-set").hidden = $("analysis").value !== "comparisons"; };
  window.addEventListener("hashchange", openFromLink);
  $("custom").onchange = () => { $("levers").hidden = !$("custom").checked; $("preset").disabled = $("custom").checked; };
  $("api-key").addEventListener("change", loadCatalogue);
  loadCatalogue();
});
