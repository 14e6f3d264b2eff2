//! A local RAM / IMS / STS emulator that speaks the real wire protocol.
