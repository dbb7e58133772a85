/**
 * `npm run bench`: the performance benchmark. Not built yet (it is its own issue); this prints
 * so rather than pretending to measure anything.
 */
console.log("coaching-engine bench: not yet — the benchmark is a later issue; no figures are reported.");
