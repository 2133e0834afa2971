using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using TrapReplace.Training;

namespace TrapReplace.Peers;

/// <summary>The loss ABL minimises during its isolation epochs, to keep the training loss near a level where backdoor samples stand out.</summary>
public enum AscentLoss
{
    /// <summary>Local gradient ascent (the paper): sign(CE - gamma) * CE on each batch, so the loss is pushed back up once it falls below gamma.</summary>
    LocalGradientAscent,

    /// <summary>Flooding (BackdoorBench's config default): |CE - gamma| + gamma.</summary>
    Flooding,
}

/// <summary>
/// Anti-Backdoor Learning settings (Li et al., "Anti-Backdoor Learning: Training Clean Models on Poisoned
/// Data", NeurIPS 2021). Defaults follow BackdoorBench's <c>abl</c> config for CIFAR-10 (20 isolation
/// epochs at lr 0.01, gamma 0.5, isolation ratio 0.01, 60 fine-tuning epochs at lr 0.1, 20 unlearning
/// epochs at lr 5e-4, SGD momentum 0.9, weight decay 1e-4, batch 256) with the paper's local gradient
/// ascent. Differences: no Nesterov momentum, and the fine-tuning phase is cosine-annealed where
/// BackdoorBench steps 0.1 / 0.01 / 0.001.
/// </summary>
public sealed class AntiBackdoorLearningOptions : TrainingRuntime
{
    /// <summary>Epochs trained from scratch on all the untrusted data with <see cref="AscentLoss"/> before isolating.</summary>
    /// <value>20 (BackdoorBench tuning_epochs).</value>
    public int IsolationEpochs { get; set; } = 20;

    /// <summary>Constant learning rate of the isolation epochs.</summary>
    /// <value>0.01.</value>
    public double IsolationLearningRate { get; set; } = 0.01;

    /// <summary>The isolation-phase loss.</summary>
    /// <value><see cref="AscentLoss.LocalGradientAscent"/>.</value>
    public AscentLoss AscentLoss { get; set; } = AscentLoss.LocalGradientAscent;

    /// <summary>gamma: the loss level of local gradient ascent (or the flooding level).</summary>
    /// <value>0.5.</value>
    public double Gamma { get; set; } = 0.5;

    /// <summary>Share of the untrusted samples with the lowest loss that are isolated as suspected poison (at least one).</summary>
    /// <value>0.01.</value>
    public double IsolationRatio { get; set; } = 0.01;

    /// <summary>Epochs of ordinary training on the samples that were not isolated (0 skips the phase).</summary>
    /// <value>60.</value>
    public int FinetuningEpochs { get; set; } = 60;

    /// <summary>Initial learning rate of those epochs, cosine-annealed.</summary>
    /// <value>0.1.</value>
    public double FinetuningLearningRate { get; set; } = 0.1;

    /// <summary>Epochs of unlearning: gradient ascent on the cross-entropy of the isolated samples.</summary>
    /// <value>20.</value>
    public int UnlearningEpochs { get; set; } = 20;

    /// <summary>Constant learning rate of unlearning.</summary>
    /// <value>5e-4.</value>
    public double UnlearningLearningRate { get; set; } = 5e-4;

    /// <summary>Mini-batch size of every phase (the final incomplete batch is kept).</summary>
    /// <value>256.</value>
    public int BatchSize { get; set; } = 256;

    /// <summary>Optimizer of every phase.</summary>
    /// <value><see cref="OptimizerKind.Sgd"/>.</value>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;

    /// <summary>Weight decay.</summary>
    /// <value>1e-4.</value>
    public double WeightDecay { get; set; } = 1e-4;

    /// <summary>SGD momentum.</summary>
    /// <value>0.9.</value>
    public double Momentum { get; set; } = 0.9;

    /// <summary>Random-crop padding.</summary>
    /// <value>4.</value>
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips.</summary>
    /// <value>true.</value>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Folder for the per-epoch checkpoint (<c>abl.ckpt</c>: the network, the phase's optimizer, the
    /// isolated samples), so an interrupted run resumes where it stopped with the same bits; null disables checkpoints.
    /// ABL trains a whole network from scratch, as long as stage 1.</summary>
    /// <value>null.</value>
    [JsonPropertyOrder(170)]
    public string? CheckpointDirectory { get; set; }

    /// <summary>Resume from the checkpoint in <see cref="CheckpointDirectory"/> when one exists.</summary>
    /// <value>true.</value>
    [JsonPropertyOrder(180)]
    public bool Resume { get; set; } = true;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        SettingChecks.AtLeast(errors, nameof(IsolationEpochs), IsolationEpochs, 1);
        SettingChecks.AtLeast(errors, nameof(BatchSize), BatchSize, 1);
        SettingChecks.Optimizer(errors, nameof(Optimizer), Optimizer);
        SettingChecks.Positive(errors, nameof(IsolationLearningRate), IsolationLearningRate);
        SettingChecks.NonNegative(errors, nameof(WeightDecay), WeightDecay);
        SettingChecks.Momentum(errors, nameof(Momentum), Momentum);
        SettingChecks.AtLeast(errors, nameof(CropPadding), CropPadding, 0);
        SettingChecks.Runtime(errors, this);
        if (FinetuningEpochs < 0) errors.Add($"FinetuningEpochs must be >= 0; got {FinetuningEpochs}.");
        if (UnlearningEpochs < 0) errors.Add($"UnlearningEpochs must be >= 0; got {UnlearningEpochs}.");
        if (!(FinetuningLearningRate > 0) || double.IsInfinity(FinetuningLearningRate)) errors.Add($"FinetuningLearningRate must be a positive number; got {FinetuningLearningRate}.");
        if (!(UnlearningLearningRate > 0) || double.IsInfinity(UnlearningLearningRate)) errors.Add($"UnlearningLearningRate must be a positive number; got {UnlearningLearningRate}.");
        if (!Enum.IsDefined(AscentLoss)) errors.Add($"AscentLoss must be LocalGradientAscent or Flooding; got {AscentLoss}.");
        if (!(Gamma >= 0) || double.IsInfinity(Gamma)) errors.Add($"Gamma must be >= 0; got {Gamma}.");
        if (!(IsolationRatio > 0 && IsolationRatio < 1)) errors.Add($"IsolationRatio must be in (0, 1); got {IsolationRatio}.");
        return errors;
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(AntiBackdoorLearningOptions), typeof(AntiBackdoorLearningOptions), Validate());

    /// <summary>A copy.</summary>
    public AntiBackdoorLearningOptions Clone() => (AntiBackdoorLearningOptions)MemberwiseClone();
}
