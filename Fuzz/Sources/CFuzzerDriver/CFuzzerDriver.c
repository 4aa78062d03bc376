// Only here so that SwiftPM builds the module of CFuzzerDriver.h.
