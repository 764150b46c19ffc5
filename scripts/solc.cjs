// Compile Solidity standard-JSON from stdin with the pinned npm `solc` (solcjs); print the output JSON.
const solc = require("solc");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const output = solc.compile(input);
  process.stdout.write(JSON.stringify({ version: solc.version(), output: JSON.parse(output) }));
});
