using Microsoft.Extensions.Options;
using TrapReplace.Training;

namespace TrapReplace.Peers;

/// <summary>
/// Adversarial Neuron Pruning settings (Wu and Wang, "Adversarial Neuron Perturbations Purify Backdoored
/// Models", NeurIPS 2021). Defaults follow the paper's CIFAR-10 setting and BackdoorBench's <c>anp</c>
/// config: 2,000 mask iterations at batch 128, mask SGD lr 0.2 with momentum 0.9, eps 0.4, one noise
/// step, trade-off alpha 0.2; pruning by mask threshold in steps of 0.05 up to 0.9.
/// </summary>
public sealed class AdversarialNeuronPruningOptions : TrainingRuntime
{
    /// <summary>Mask-optimisation steps (mini-batches), cycling over the holdout's training part.</summary>
    /// <value>2000 (BackdoorBench nb_iter).</value>
    public int Iterations { get; set; } = 2000;

    /// <summary>Mini-batch size (the final incomplete batch of a pass is kept).</summary>
    /// <value>128.</value>
    public int BatchSize { get; set; } = 128;

    /// <summary>Learning rate of the masks' SGD.</summary>
    /// <value>0.2.</value>
    public double MaskLearningRate { get; set; } = 0.2;

    /// <summary>Momentum of the masks' SGD.</summary>
    /// <value>0.9.</value>
    public double MaskMomentum { get; set; } = 0.9;

    /// <summary>Bound eps of the multiplicative neuron noise; 0 optimises the masks on the clean loss alone.</summary>
    /// <value>0.4.</value>
    public double NoiseEpsilon { get; set; } = 0.4;

    /// <summary>Signed ascent steps on the noise per iteration (each of size eps / steps).</summary>
    /// <value>1.</value>
    public int NoiseSteps { get; set; } = 1;

    /// <summary>Weight alpha of the clean loss; the perturbed loss gets 1 - alpha.</summary>
    /// <value>0.2.</value>
    public double TradeOff { get; set; } = 0.2;

    /// <summary>Prune every neuron whose mask is below this value, instead of choosing the threshold on the
    /// validation split (the paper's fixed 0.2). Null chooses it (the default).</summary>
    /// <value>null.</value>
    public double? FixedThreshold { get; set; }

    /// <summary>Candidate thresholds are multiples of this step.</summary>
    /// <value>0.05 (BackdoorBench pruning_step).</value>
    public double ThresholdStep { get; set; } = 0.05;

    /// <summary>The largest candidate threshold.</summary>
    /// <value>0.9 (BackdoorBench pruning_max).</value>
    public double MaxThreshold { get; set; } = 0.9;

    /// <summary>The pruned model must keep at least this share of the unpruned model's validation accuracy; the
    /// threshold search stops at the first candidate below it (as for Fine-Pruning).</summary>
    /// <value>0.9.</value>
    public double MinAccuracyRatio { get; set; } = 0.9;

    /// <summary>Share of the clean holdout kept aside (stratified, seeded) to choose the threshold; the rest
    /// optimises the masks. Must be in (0, 1).</summary>
    /// <value>0.1.</value>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Random-crop padding of the mask-optimisation batches (ANP's CIFAR-10 loader crops and flips).</summary>
    /// <value>4.</value>
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips of the mask-optimisation batches.</summary>
    /// <value>true.</value>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Iterations < 1) errors.Add($"Iterations must be >= 1; got {Iterations}.");
        if (BatchSize < 1) errors.Add($"BatchSize must be >= 1; got {BatchSize}.");
        if (!(MaskLearningRate > 0) || double.IsInfinity(MaskLearningRate)) errors.Add($"MaskLearningRate must be a positive number; got {MaskLearningRate}.");
        if (!(MaskMomentum >= 0 && MaskMomentum < 1)) errors.Add($"MaskMomentum must be in [0, 1); got {MaskMomentum}.");
        if (CropPadding < 0) errors.Add($"CropPadding must be >= 0; got {CropPadding}.");
        SettingChecks.Runtime(errors, this);
        if (!(NoiseEpsilon >= 0) || double.IsInfinity(NoiseEpsilon)) errors.Add($"NoiseEpsilon must be >= 0; got {NoiseEpsilon}.");
        if (NoiseSteps < 1) errors.Add($"NoiseSteps must be >= 1; got {NoiseSteps}.");
        if (!(TradeOff >= 0 && TradeOff <= 1)) errors.Add($"TradeOff must be in [0, 1]; got {TradeOff}.");
        if (FixedThreshold is { } fixedThreshold && !(fixedThreshold >= 0 && fixedThreshold <= 1)) errors.Add($"FixedThreshold must be in [0, 1]; got {fixedThreshold}.");
        if (!(ThresholdStep > 0 && ThresholdStep <= 1)) errors.Add($"ThresholdStep must be in (0, 1]; got {ThresholdStep}.");
        if (!(MaxThreshold >= 0 && MaxThreshold <= 1)) errors.Add($"MaxThreshold must be in [0, 1]; got {MaxThreshold}.");
        if (!(MinAccuracyRatio >= 0 && MinAccuracyRatio <= 1)) errors.Add($"MinAccuracyRatio must be in [0, 1]; got {MinAccuracyRatio}.");
        if (!(ValidationFraction > 0 && ValidationFraction < 1)) errors.Add($"ValidationFraction must be in (0, 1); got {ValidationFraction}.");
        return errors;
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(AdversarialNeuronPruningOptions), typeof(AdversarialNeuronPruningOptions), Validate());

    /// <summary>A copy.</summary>
    public AdversarialNeuronPruningOptions Clone() => (AdversarialNeuronPruningOptions)MemberwiseClone();
}
