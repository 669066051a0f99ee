'use strict';
/** The package version (kept equal to package.json by a test). */
module.exports = '0.1.0';
