// Browser test of cir's web page: builds a small shapes-world index, starts `cir serve` on an
// ephemeral port, and drives Debian's Chromium (playwright-core): upload a reference, type a
// modification, see results, click one to refine, open a shared URL of a benchmark query and see
// its ground-truth targets marked. Screenshots go to the artefact directory.
//
// Usage: node web_test.mjs CIR_BINARY MODEL_DIR ARTIFACT_DIR. Exit 77 = skipped (prerequisite
// missing), 0 = passed, 1 = failed.
import {spawn, execFileSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const SKIP = 77;
const CHROMIUM = process.env.CIR_CHROMIUM || "/usr/bin/chromium";
const [cirBinary, modelDir, artifactDir] = process.argv.slice(2);

function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(SKIP);
}

function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

function run(args) {
  execFileSync(cirBinary, args, {stdio: ["ignore", "ignore", "inherit"]});
}

// A small world: ~40 scenes, the split with queries indexed alone so every target fits a page.
function buildIndex(work) {
  const world = path.join(work, "world");
  run(["synth", "--out", world, "--n-scenes", "40", "--image-size", "64", "--max-queries", "20", "--seed", "3"]);
  const split = ["val", "test", "train"].find((s) => fs.existsSync(path.join(world, "queries", `${s}.jsonl`)) &&
                                                    fs.readFileSync(path.join(world, "queries", `${s}.jsonl`), "utf8").trim());
  if (!split) throw new Error("synth wrote no queries");
  const index = path.join(work, "index");
  run(["index", "build", "--images", path.join(world, "images", split), "--model", modelDir, "--out", index, "--quiet"]);
  return {world, split, index, queries: path.join(world, "queries", `${split}.jsonl`)};
}

// Starts the server on port 0 and resolves with its URL once it prints the listening line.
function startServer(setup) {
  const proc = spawn(cirBinary, ["serve", "--index", `shapes=${setup.index}`, "--port", "0", "--threads", "4",
                                 "--queries", setup.queries], {stdio: ["ignore", "ignore", "pipe"]});
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60000);
    proc.stderr.on("data", (chunk) => {
      log += chunk;
      const m = log.match(/listening on (http:\/\/[^ ]+\/)/);
      if (m) {
        clearTimeout(timer);
        resolve({proc, url: m[1]});
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
}

async function cardCount(page) {
  return page.locator("#results .card").count();
}

async function testRefinementLoop(page, server, setup) {
  await page.goto(server.url);
  await page.waitForFunction(() => document.querySelectorAll("#index-select option").length > 0);
  const image = fs.readdirSync(path.join(setup.world, "images", setup.split)).find((f) => f.endsWith(".png"));
  await page.setInputFiles("#file-input", path.join(setup.world, "images", setup.split, image));
  await page.waitForSelector("#ref-preview:not([hidden])");
  await page.fill("#text-input", "add a red circle");
  await page.keyboard.press("Enter");  // Enter in the text box submits the search
  await page.waitForSelector("#results .card");
  check(await cardCount(page) > 0, "an uploaded reference + text returns results");
  check(/results/.test(await page.textContent("#status")), "status line reports the result count and timings");
  await page.screenshot({path: path.join(artifactDir, "web-1-upload.png"), fullPage: true});

  const firstId = await page.locator("#results .card .name").first().textContent();
  await page.locator("#results .card").first().click();
  await page.waitForFunction(() => document.querySelectorAll("#breadcrumbs button").length === 2);
  await page.waitForSelector("#results .card");
  check((await page.textContent("#ref-label")).includes(firstId), "clicking a result makes it the reference");
  check(await page.inputValue("#text-input") === "add a red circle", "the modification text is kept");
  check(new URL(page.url()).searchParams.get("ref") === firstId, "the URL carries the new reference (shareable)");
  const names = await page.locator("#results .card .name").allTextContents();
  check(!names.includes(firstId), "the reference itself is not among the results");
}

async function testGroundTruth(page, server, setup) {
  const line = fs.readFileSync(setup.queries, "utf8").trim().split("\n")[0];
  const q = JSON.parse(line);
  const params = new URLSearchParams({index: "shapes", ref: `${q.reference}.png`, text: q.text, k: "200"});
  await page.goto(`${server.url}?${params}`);
  await page.waitForSelector("#results .card");
  const targets = await page.locator("#results .card.target").count();
  check(targets > 0, `a shared benchmark query URL marks its ground-truth targets (${targets} marked)`);
  check((await page.textContent("#status")).includes("ground truth"), "the status line names the benchmark query");
  await page.screenshot({path: path.join(artifactDir, "web-2-ground-truth.png"), fullPage: true});
}

async function testGalleryPicker(page) {
  await page.click("#gallery-button");
  await page.waitForSelector("#gallery-grid .card");
  const id = await page.locator("#gallery-grid .card .name").first().textContent();
  await page.locator("#gallery-grid .card").first().click();
  check((await page.textContent("#ref-label")).includes(id), "picking from the gallery sets the reference");
}

async function main() {
  if (!cirBinary || !modelDir || !artifactDir) skip("usage: web_test.mjs CIR_BINARY MODEL_DIR ARTIFACT_DIR");
  if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} not installed (apt-get install chromium)`);
  if (!fs.existsSync(modelDir)) skip(`fixture model ${modelDir} absent`);
  if (!fs.existsSync(cirBinary)) skip(`${cirBinary} not built`);
  let chromium;
  try {
    ({chromium} = await import("playwright-core"));
  } catch {
    skip("playwright-core not installed (npm ci --prefix tests/web)");
  }
  fs.mkdirSync(artifactDir, {recursive: true});
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "cir-web-"));
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), "cir-chromium-"));
  let server, browser;
  try {
    const setup = buildIndex(work);
    server = await startServer(setup);
    // A persistent context is how Playwright takes a fresh --user-data-dir.
    browser = await chromium.launchPersistentContext(userData, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: {width: 1280, height: 900},
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage();
    const pageErrors = [];
    page.on("pageerror", (err) => pageErrors.push(String(err)));
    await testRefinementLoop(page, server, setup);
    await testGalleryPicker(page);
    await testGroundTruth(page, server, setup);
    await page.screenshot({path: path.join(artifactDir, "web-test.png"), fullPage: true});
    check(pageErrors.length === 0, `no JavaScript errors on the page ${pageErrors.join("; ")}`);
    console.log(`screenshots in ${artifactDir}`);
  } finally {
    if (browser) await browser.close();
    if (server) {
      const exited = new Promise((resolve) => server.proc.on("exit", (code, sig) => resolve({code, sig})));
      server.proc.kill("SIGTERM");
      const {code} = await exited;
      check(code === 0, "cir serve shuts down cleanly on SIGTERM");
    }
    fs.rmSync(work, {recursive: true, force: true});
    fs.rmSync(userData, {recursive: true, force: true});
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
