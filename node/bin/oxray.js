#!/usr/bin/env node
'use strict';
// `npx oxray collect | show | map`: the oxray command line, run inside the native addon by the
// very function the `oxray` binary and `python -m oxray` run (oxray_cli::main_with_args).

let binding;
try {
  binding = require('../binding.js');
} catch (err) {
  process.stderr.write(`oxray: the native addon could not be loaded (${err instanceof Error ? err.message : String(err)})\n`);
  process.exit(1);
}
process.exitCode = binding.cliMain(process.argv.slice(2));
