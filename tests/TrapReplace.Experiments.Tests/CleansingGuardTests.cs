using TrapReplace.Experiments.Defenses;

namespace TrapReplace.Experiments.Tests;

public sealed class CleansingGuardTests
{
    [Fact]
    public void A_cleansing_that_beats_trap_and_replace_on_both_counts_stays()
    {
        // Blend as measured: Trap and Replace 82.4 % validation, 57.8 % pull; the kept continued network 85.2 %, 2.3 %.
        TrapCleanse.UndoReason(0.824, 0.578, 0.852, 0.023).Should().BeNull();
    }

    [Fact]
    public void A_cleansing_that_costs_more_than_three_points_of_validation_accuracy_is_undone()
    {
        TrapCleanse.UndoReason(0.80, 0.50, 0.76, 0.0).Should().Be("validation accuracy fell from 80.0 % to 76.0 %, more than 3 %");
    }

    [Fact]
    public void A_cleansing_that_scores_no_higher_than_trap_and_replace_on_accuracy_minus_pull_is_undone()
    {
        // Within three points, but the backdoor pulls harder after the cleansing (a moved or kept backdoor).
        TrapCleanse.UndoReason(0.80, 0.05, 0.81, 0.20).Should()
            .Be("Trap and Replace scored 80.0 % - 5.0 % on validation accuracy minus the pull estimate, the cleansed network only 81.0 % - 20.0 %");
        // A tie keeps Trap and Replace: the cleansing must earn its place.
        TrapCleanse.UndoReason(0.80, 0.10, 0.80, 0.10).Should().NotBeNull();
    }

    [Fact]
    public void Without_an_estimate_only_the_accuracy_rule_applies()
    {
        TrapCleanse.UndoReason(0.80, null, 0.79, 0.5).Should().BeNull();
        TrapCleanse.UndoReason(0.80, null, 0.70, null).Should().NotBeNull();
    }
}
