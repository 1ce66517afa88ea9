// `npm run simulate -- --doors 50 --residents 2000 --hours 24 --speed 600`: a building's day against a
// real hub (docs/proof.md). Not written yet.
process.stderr.write('the building simulator is not written yet\n');
process.exitCode = 1;
