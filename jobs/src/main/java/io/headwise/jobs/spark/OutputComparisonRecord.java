package io.headwise.jobs.spark;

import io.headwise.profilers.eval.OutputComparison;
import java.io.Serializable;

/** A plan id with the comparison sums of one partition (a Java-serialized Spark record). */
public final class OutputComparisonRecord implements Serializable {
  private static final long serialVersionUID = 1L;

  private String planId;
  private OutputComparison comparison;

  public OutputComparisonRecord() {}

  public OutputComparisonRecord(String planId, OutputComparison comparison) {
    this.planId = planId;
    this.comparison = comparison;
  }

  public String getPlanId() {
    return planId;
  }

  public void setPlanId(String planId) {
    this.planId = planId;
  }

  public OutputComparison getComparison() {
    return comparison;
  }

  public void setComparison(OutputComparison comparison) {
    this.comparison = comparison;
  }
}
