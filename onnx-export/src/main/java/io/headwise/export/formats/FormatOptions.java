package io.headwise.export.formats;

/**
 * Options some formats need from the user: {@code hfModelType} is the {@code model_type} of the
 * model's Hugging Face config (the hf format writes the keys that family reads and refuses families
 * that ignore {@code layer_types}); {@code dropSinks} allows the hf format to turn a plan's
 * attention-sink tokens into recent tokens.
 */
public record FormatOptions(String hfModelType, boolean dropSinks) {
  public static final FormatOptions DEFAULTS = new FormatOptions(null, false);
}
