// sampjs as a classic script (window.islaSampjs), loaded by samp.js only when SAMP is used.
// It is built apart from the ES-module bundle because sampjs 1.0.3 is sloppy-mode code (it
// assigns an undeclared variable when a connection closes), which strict module code rejects.
module.exports = require("sampjs");
