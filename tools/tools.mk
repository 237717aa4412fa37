# tools/tools.mk — installed wrappers and helper scripts.
