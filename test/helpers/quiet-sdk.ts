// The SDK warns once per client on Node 20 that releases after January 2027 need Node 22;
// engines and the README say so already, and hundreds of copies would bury test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
