package io.headwise.planners;

/**
 * One option a planner accepts: its key, its default value (as text) and a one-line description.
 */
public record OptionSpec(String key, String defaultValue, String description) {}
