using Microsoft.Extensions.Options;
using TrapReplace.Peers;
using TrapReplace.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Peers;

public sealed class ImplicitBackdoorUnlearningTests(ITestOutputHelper output)
{
    /// <summary>
    /// Inner problem min_w a w^2 / 2 - theta w (so w* = theta / a), outer f = w^2 + c theta, at the fixed point
    /// w = 0.3 (theta = 0.6). The fixed-point map's Jacobian is 1 - r a = 0.8 and its theta-derivative r = 0.1, so
    /// K steps give c + r 2w (1 - 0.8^K) / 0.2, which tends to the true derivative 2 w* / a + c = 1.0.
    /// </summary>
    [Theory]
    [InlineData(1, 0.76)]
    [InlineData(2, 0.808)]
    [InlineData(400, 1.0)]
    public void The_hypergradient_is_the_truncated_neumann_series_and_converges_to_the_implicit_derivative(int steps, double expected)
    {
        using var theta = tensor(0.6, dtype: ScalarType.Float64).requires_grad_(true);
        using var w = tensor(0.3, dtype: ScalarType.Float64);
        const double a = 2, c = 0.7, r = 0.1;

        var surrogate = ImplicitHypergradient.Surrogate(w, v => v.pow(2).mul(a / 2).sub(theta.mul(v)), v => v.pow(2).add(theta.mul(c)), r, steps);
        surrogate.backward();

        surrogate.ToDouble().Should().BeApproximately(0.09 + 0.42, 1e-12, "the surrogate's value is the outer loss");
        theta.grad!.ToDouble().Should().BeApproximately(expected, 1e-9);
    }

    /// <summary>On this toy, plain fine-tuning also removes the backdoor; what is specific to I-BAU is checked by the
    /// hypergradient test above and by the perturbation search fooling the network here.</summary>
    [Fact]
    public void Unlearning_a_backdoored_network_lowers_the_attack_success_rate()
    {
        var fixture = PeerTestModels.Backdoored;
        var before = PeerTestModels.Snapshot(fixture.Network);
        double asrBefore = fixture.AttackSuccessRate(fixture.Network);
        double caBefore = fixture.CleanAccuracy(fixture.Network);
        // The perturbation is projected onto radius 10 (the authors' commented-out projection). Unbounded, it reached
        // norms of 30-120 on this toy, and in one full-suite run (test assemblies side by side, so other memory
        // addresses and last bits) the third round's search met a network the second round had driven to non-finite
        // weights. A probe of 16 seeds diverged in neither setting; seed 0's ASR is 0 % in both.
        var options = new ImplicitBackdoorUnlearningOptions
        {
            Rounds = 3, BatchSize = 40, PerturbedShare = 0.1, ValidationFraction = 0.25, Threads = 2, PerturbationRadius = 10,
        };
        var defense = new ImplicitBackdoorUnlearning(options);
        int steps = 0;
        var stages = new List<string>();
        defense.StepCompleted += (_, _) => steps++;
        defense.EpochCompleted += (_, e) => stages.Add(e.Stage);

        var result = defense.Fit(fixture.Network, fixture.Backbone, fixture.Holdout);
        using var defended = result.Network;

        double asrAfter = fixture.AttackSuccessRate(defended);
        double caAfter = fixture.CleanAccuracy(defended);
        output.WriteLine($"ASR {asrBefore:P1} -> {asrAfter:P1}, CA {caBefore:P1} -> {caAfter:P1}; {result}");
        asrBefore.Should().BeGreaterThan(0.95, "the fixture learned the backdoor");
        asrAfter.Should().BeLessThan(0.3);
        caAfter.Should().BeGreaterThan(0.5, "four classes: well above chance");
        result.PerturbationNorm!.Value.Should().BeGreaterThan(1, "the search moves away from zero").And.BeLessThanOrEqualTo(10 + 1e-4, "projected onto the radius");
        result.FoolingRate!.Value.Should().BeGreaterThan(0.5, "one universal perturbation changes most predictions");
        result.ValidationAccuracyInitial!.Value.Should().Be(1);
        steps.Should().Be(3 * 3, "120 training images in batches of 40, three rounds");
        stages.Should().Equal("i-bau", "i-bau", "i-bau");
        result.History.Should().HaveCount(3).And.OnlyContain(r => r.ValidationAccuracy.HasValue);
        defended.training.Should().BeFalse();
        PeerTestModels.Unchanged(fixture.Network, before).Should().BeTrue("the input model is never modified");
        PeerTestModels.DisposeAll(before);
    }

    [Fact]
    public void Invalid_options_are_all_reported_together()
    {
        var options = new ImplicitBackdoorUnlearningOptions { Rounds = 0, FixedPointSteps = 0, PerturbedShare = 0, PerturbationRadius = -1 };
        var act = () => new ImplicitBackdoorUnlearning(options);
        var error = act.Should().Throw<OptionsValidationException>().Which;
        error.Failures.Should().HaveCount(4);
        error.Message.Should().Contain("Rounds must be >= 1; got 0")
            .And.Contain("FixedPointSteps must be >= 1; got 0")
            .And.Contain("PerturbedShare must be in (0, 1]; got 0")
            .And.Contain("PerturbationRadius must be > 0 when set; got -1");
    }
}
