using Microsoft.Extensions.Options;
using TrapReplace.Training;

namespace TrapReplace.Peers;

/// <summary>
/// I-BAU settings (Zeng, Chen, Park, Mao, Jin and Jia, "Adversarial Unlearning of Backdoors via Implicit
/// Hypergradient", ICLR 2022). Defaults are the authors' <c>defense.py</c>: 5 rounds, K = 5 fixed-point
/// steps, batch 100, outer Adam lr 0.001, perturbation SGD lr 10 with an L2 penalty of 0.001, inner map step
/// 0.1, and the perturbation added to 1 % of each unlearning batch.
/// </summary>
public sealed class ImplicitBackdoorUnlearningOptions : TrainingRuntime
{
    /// <summary>Rounds; each finds a universal perturbation in one pass over the holdout, then unlearns it in another.</summary>
    /// <value>5 (n_rounds).</value>
    public int Rounds { get; set; } = 5;

    /// <summary>Fixed-point iterations K of the implicit hypergradient.</summary>
    /// <value>5.</value>
    public int FixedPointSteps { get; set; } = 5;

    /// <summary>Mini-batch size of both passes (in order, no shuffling, final incomplete batch kept).</summary>
    /// <value>100.</value>
    public int BatchSize { get; set; } = 100;

    /// <summary>Optimizer of the network (the outer problem).</summary>
    /// <value><see cref="OptimizerKind.Adam"/>.</value>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Adam;

    /// <summary>Learning rate of the network's optimizer (constant).</summary>
    /// <value>0.001.</value>
    public double LearningRate { get; set; } = 0.001;

    /// <summary>Step of the plain gradient steps that search the universal perturbation.</summary>
    /// <value>10.</value>
    public double PerturbationLearningRate { get; set; } = 10;

    /// <summary>Weight of the squared L2 norm of the perturbation in the inner loss.</summary>
    /// <value>0.001.</value>
    public double PerturbationPenalty { get; set; } = 0.001;

    /// <summary>Optional L2 radius the perturbation is projected onto after its search; null leaves it unbounded
    /// (the authors' code has the projection to 10 commented out).</summary>
    /// <value>null.</value>
    public double? PerturbationRadius { get; set; }

    /// <summary>Step r of the inner gradient-descent map whose fixed point defines the hypergradient.</summary>
    /// <value>0.1.</value>
    public double InnerLearningRate { get; set; } = 0.1;

    /// <summary>Share of each unlearning batch that gets the perturbation added (rounded down; a batch where it rounds
    /// to 0 images trains on clean cross-entropy alone).</summary>
    /// <value>0.01 (the authors' <c>portion</c>).</value>
    public double PerturbedShare { get; set; } = 0.01;

    /// <summary>Share of the clean holdout kept aside (stratified, seeded) to report accuracy per round; 0 uses all of
    /// it for unlearning. Nothing is selected on it.</summary>
    /// <value>0.1.</value>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Rounds < 1) errors.Add($"Rounds must be >= 1; got {Rounds}.");
        SettingChecks.AtLeast(errors, nameof(BatchSize), BatchSize, 1);
        SettingChecks.Optimizer(errors, nameof(Optimizer), Optimizer);
        SettingChecks.Positive(errors, nameof(LearningRate), LearningRate);
        SettingChecks.Runtime(errors, this);
        // Under bf16 autocast the hypergradient, which differentiates the network twice, turned the loss NaN (ImplicitBackdoorUnlearning).
        if (Precision != Runtime.Precision.Float32) errors.Add($"Precision must be Float32: I-BAU runs in float32 only; got {Precision}.");
        if (FixedPointSteps < 1) errors.Add($"FixedPointSteps must be >= 1; got {FixedPointSteps}.");
        if (!(PerturbationLearningRate > 0) || double.IsInfinity(PerturbationLearningRate)) errors.Add($"PerturbationLearningRate must be a positive number; got {PerturbationLearningRate}.");
        if (!(PerturbationPenalty >= 0) || double.IsInfinity(PerturbationPenalty)) errors.Add($"PerturbationPenalty must be >= 0; got {PerturbationPenalty}.");
        if (PerturbationRadius is { } radius && !(radius > 0)) errors.Add($"PerturbationRadius must be > 0 when set; got {radius}.");
        if (!(InnerLearningRate > 0) || double.IsInfinity(InnerLearningRate)) errors.Add($"InnerLearningRate must be a positive number; got {InnerLearningRate}.");
        if (!(PerturbedShare > 0 && PerturbedShare <= 1)) errors.Add($"PerturbedShare must be in (0, 1]; got {PerturbedShare}.");
        if (!(ValidationFraction >= 0 && ValidationFraction < 1)) errors.Add($"ValidationFraction must be in [0, 1); got {ValidationFraction}.");
        return errors;
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(ImplicitBackdoorUnlearningOptions), typeof(ImplicitBackdoorUnlearningOptions), Validate());

    /// <summary>A copy.</summary>
    public ImplicitBackdoorUnlearningOptions Clone() => (ImplicitBackdoorUnlearningOptions)MemberwiseClone();
}
