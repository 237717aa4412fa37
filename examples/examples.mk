# examples/examples.mk — example programs.
