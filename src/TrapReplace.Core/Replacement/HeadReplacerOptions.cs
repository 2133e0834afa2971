using TrapReplace.Training;

namespace TrapReplace.Replacement;

/// <summary>How stage 2 picks the head it returns.</summary>
public enum HeadSelection
{
    /// <summary>The epoch with the best accuracy on the validation split carved from the clean holdout
    /// (never the test set; the reference code selects on test accuracy, which leaks).</summary>
    BestValidation,

    /// <summary>The last epoch.</summary>
    LastEpoch,

    /// <summary>The epoch with the best validation accuracy minus the label-free attack-success estimate of
    /// <see cref="HeadReplacer.AttackSuccessEstimator"/> (for example the share of a poison scan's suspects the head
    /// assigns to the inferred target); the same as <see cref="BestValidation"/> without an estimator.</summary>
    BestValidationMinusEstimatedAttack,
}

/// <summary>
/// Stage 2 ("remove and patch") settings. Defaults are the reference's CIFAR-10/GTSRB values:
/// Adam lr 0.03 (unusually high for Adam, inherited by the reference from a semi-supervised code
/// base; treat it as tunable), batch 64, 100 epochs, cosine, weight decay 5e-4, dropout 0.5 in the
/// new head, CutMix on every batch with beta 1, label smoothing 0.1. Bindable from configuration
/// (section <c>TrapReplace:Replace</c>).
/// </summary>
public sealed class HeadReplacerOptions : ITrainingSchedule
{
    /// <summary>Training epochs of the new head.</summary>
    /// <value>100.</value>
    public int Epochs { get; set; } = 100;

    /// <summary>Mini-batch size.</summary>
    /// <value>64.</value>
    public int BatchSize { get; set; } = 64;

    /// <summary>Optimizer over the new head.</summary>
    /// <value><see cref="OptimizerKind.Adam"/>.</value>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Adam;

    /// <summary>Initial learning rate, cosine-annealed over all epochs.</summary>
    /// <value>0.03.</value>
    public double LearningRate { get; set; } = 0.03;

    /// <summary>Weight decay.</summary>
    /// <value>5e-4.</value>
    public double WeightDecay { get; set; } = 5e-4;

    /// <summary>Momentum for SGD.</summary>
    /// <value>0.9.</value>
    public double Momentum { get; set; } = 0.9;

    /// <summary>Dropout inside the new head's residual block.</summary>
    /// <value>0.5.</value>
    public double Dropout { get; set; } = 0.5;

    /// <summary>Probability of CutMix per batch (1 = every batch, as the reference; 0 disables it).</summary>
    /// <value>1.</value>
    public double CutMixProbability { get; set; } = 1;

    /// <summary>Beta-distribution parameter of the CutMix area.</summary>
    /// <value>1.</value>
    public double CutMixBeta { get; set; } = 1;

    /// <summary>Label smoothing of the cross-entropy.</summary>
    /// <value>0.1.</value>
    public double LabelSmoothing { get; set; } = 0.1;

    /// <summary>Share of the clean holdout kept aside for head selection (stratified, seeded). 0 with <see cref="HeadSelection.LastEpoch"/>.</summary>
    /// <value>0.1.</value>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Which epoch's head is returned.</summary>
    /// <value><see cref="HeadSelection.BestValidation"/>.</value>
    public HeadSelection Selection { get; set; } = HeadSelection.BestValidation;

    /// <summary>Random-crop padding.</summary>
    /// <value>4.</value>
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips.</summary>
    /// <value>true.</value>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Seed of the new head's initialisation and of dropout.</summary>
    /// <value>1.</value>
    public int ModelSeed { get; set; } = 1;

    /// <summary>Seed of the validation split, shuffling, augmentation and CutMix.</summary>
    /// <value>0.</value>
    public int DataSeed { get; set; }

    /// <summary>Device.</summary>
    /// <value><c>cpu</c>.</value>
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

    /// <summary>Intra-op threads to pin (0 = TorchSharp default).</summary>
    /// <value>0.</value>
    public int Threads { get; set; }

    /// <summary>
    /// Run the network on channels-last batches (<see cref="Runtime.MemoryLayout"/>): faster on CPU, equal up to
    /// floating-point summation order. False gives the standard (N, C, H, W) layout of runs made before this option.
    /// </summary>
    /// <value>true.</value>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>The forward pass's arithmetic (<see cref="Runtime.Precision"/>); losses and weights stay float32.
    /// <value>Default <see cref="Runtime.Precision.Float32"/>.</value></summary>
    public Runtime.Precision Precision { get; set; } = Runtime.Precision.Float32;

    /// <summary>
    /// Keep the head of about this many epochs, spaced geometrically from the first to the last (early epochs are
    /// where the head changes most), in <see cref="HeadReplacementResult.Snapshots"/>: the poison scan looks for the
    /// epoch whose head kept least of the backdoor (<see cref="Scanning.PoisonScanner.ScanSnapshots"/>). Epochs
    /// trained before a resume are not kept. A WRN-16-1 head is about 0.3 MB. <value>Default 12.</value>
    /// </summary>
    public int HeadSnapshots { get; set; } = 12;

    /// <summary>The 0-based epochs <see cref="HeadSnapshots"/> keeps: at most that many, geometrically spaced over
    /// 1..<see cref="Epochs"/> (rounding merges some early ones), always including the first and the last; every
    /// epoch when there are no more epochs than snapshots.</summary>
    public IReadOnlySet<int> SnapshotEpochs()
    {
        var epochs = new SortedSet<int>();
        if (HeadSnapshots <= 0 || Epochs <= 0) return epochs;
        if (HeadSnapshots >= Epochs) return new SortedSet<int>(Enumerable.Range(0, Epochs));
        int n = HeadSnapshots;
        for (int k = 0; k < n; k++)
            epochs.Add(n == 1 ? Epochs - 1 : (int)Math.Round(Math.Pow(Epochs, (double)k / (n - 1))) - 1);
        return epochs;
    }

    /// <summary>Folder for <c>replace.ckpt</c>, <c>replace-best.ckpt</c> and the snapshot heads (<c>replace-snapshot-NNNN.ckpt</c>, so a
    /// resumed run returns the same <see cref="HeadReplacementResult.Snapshots"/>); null disables checkpoints.</summary>
    /// <value>null.</value>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Resume from the checkpoint when one exists.</summary>
    /// <value>true.</value>
    public bool Resume { get; set; } = true;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        SettingChecks.Schedule(errors, this);
        if (!(Dropout >= 0 && Dropout < 1)) errors.Add($"Dropout must be in [0, 1); got {Dropout}.");
        if (!(CutMixProbability >= 0 && CutMixProbability <= 1)) errors.Add($"CutMixProbability must be in [0, 1]; got {CutMixProbability}.");
        if (!(CutMixBeta > 0) || double.IsInfinity(CutMixBeta)) errors.Add($"CutMixBeta must be > 0; got {CutMixBeta}.");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) errors.Add($"LabelSmoothing must be in [0, 1); got {LabelSmoothing}.");
        if (HeadSnapshots < 0) errors.Add($"HeadSnapshots must be >= 0; got {HeadSnapshots}.");
        if (!(ValidationFraction >= 0 && ValidationFraction < 1)) errors.Add($"ValidationFraction must be in [0, 1); got {ValidationFraction}.");
        if (!Enum.IsDefined(Selection)) errors.Add($"Selection must be BestValidation or LastEpoch; got {Selection}.");
        if (Selection == HeadSelection.BestValidation && ValidationFraction == 0)
            errors.Add("Selection BestValidation needs a ValidationFraction > 0 (or choose LastEpoch).");
        return errors;
    }

    /// <summary>Throws one <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(HeadReplacerOptions), typeof(HeadReplacerOptions), Validate());

    /// <summary>A copy.</summary>
    public HeadReplacerOptions Clone() => (HeadReplacerOptions)MemberwiseClone();

    /// <summary>The split of <paramref name="holdout"/> into the part the new head trains on and its validation part
    /// (<see cref="ValidationFraction"/> > 0), seeded by <see cref="DataSeed"/>: the one place that decides it.</summary>
    internal Data.HoldoutSplit ValidationSplit(Data.ImageDataset holdout) => Data.HoldoutSplit.Create(holdout.LabelArray(), ValidationFraction, DataSeed);
}
