package io.headwise.report;

/** A model as the report names it: id, display label, source path (null when unknown), shape. */
record ModelInfo(String id, String label, String source, int layers, int heads, int kvHeads) {}
