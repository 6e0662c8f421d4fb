// podwire's version, in the one place it is written: the plugin and the Embedded Swift pause
// program both print it, and the pause program can import a C header but no Swift module.
static const char podwire_version[] = "0.1.0";
