using System.Text.Json.Serialization;
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
/// new head, CutMix on every batch with beta 1, label smoothing 0.1, model seed 1 (set it from stage 1's seed with
/// <see cref="FreshHeadSeed"/>, as the fluent API and the runner do). Bindable from configuration
/// (section <c>TrapReplace:Replace</c>).
/// </summary>
public sealed class HeadReplacerOptions : TrainingSchedule
{
    /// <summary>Options with this stage's defaults.</summary>
    public HeadReplacerOptions()
        : base(epochs: 100, batchSize: 64, optimizer: OptimizerKind.Adam, learningRate: 0.03, weightDecay: 5e-4)
    {
        ModelSeed = 1;
    }

    /// <summary>Dropout inside the new head's residual block.</summary>
    /// <value>0.5.</value>
    [JsonPropertyOrder(61)]
    public double Dropout { get; set; } = 0.5;

    /// <summary>Probability of CutMix per batch (1 = every batch, as the reference; 0 disables it).</summary>
    /// <value>1.</value>
    [JsonPropertyOrder(62)]
    public double CutMixProbability { get; set; } = 1;

    /// <summary>Beta-distribution parameter of the CutMix area.</summary>
    /// <value>1.</value>
    [JsonPropertyOrder(63)]
    public double CutMixBeta { get; set; } = 1;

    /// <summary>Label smoothing of the cross-entropy.</summary>
    /// <value>0.1.</value>
    [JsonPropertyOrder(64)]
    public double LabelSmoothing { get; set; } = 0.1;

    /// <summary>Share of the clean holdout kept aside for head selection (stratified, seeded). 0 with <see cref="HeadSelection.LastEpoch"/>.</summary>
    /// <value>0.1.</value>
    [JsonPropertyOrder(65)]
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Which epoch's head is returned.</summary>
    /// <value><see cref="HeadSelection.BestValidation"/>.</value>
    [JsonPropertyOrder(66)]
    public HeadSelection Selection { get; set; } = HeadSelection.BestValidation;

    /// <summary>
    /// The model seed of the fresh head that stage 2 trains, derived from stage 1's model seed on a stream of its own
    /// (what the fluent API and the runner set). Stage 2 builds stem and head in the same order as stage 1, so the same
    /// seed would hand the "new" head the trapped head's initial weights; seed + 1 would hand it the initial weights of
    /// the next seed's trapped head.
    /// </summary>
    /// <param name="stage1ModelSeed">The model seed stage 1 was built with.</param>
    public static int FreshHeadSeed(int stage1ModelSeed) => unchecked((int)((uint)stage1ModelSeed * 2654435761u ^ 0x5EED_0002u)) & int.MaxValue;

    /// <summary>
    /// Keep the head of about this many epochs, spaced geometrically from the first to the last (early epochs are
    /// where the head changes most), in <see cref="HeadReplacementResult.Snapshots"/>: the poison scan looks for the
    /// epoch whose head kept least of the backdoor (<see cref="Scanning.PoisonScanner.ScanSnapshots"/>). Epochs
    /// trained before a resume are not kept. A WRN-16-1 head is about 0.3 MB. <value>Default 12.</value>
    /// </summary>
    [JsonPropertyOrder(170)]
    public int HeadSnapshots { get; set; } = 12;

    /// <summary>The 0-based epochs <see cref="HeadSnapshots"/> keeps: at most that many, geometrically spaced over
    /// 1..<see cref="TrainingSchedule.Epochs"/> (rounding merges some early ones), always including the first and the last; every
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
    [JsonPropertyOrder(171)]
    public string? CheckpointDirectory { get; set; }

    /// <summary>Resume from the checkpoint when one exists.</summary>
    /// <value>true.</value>
    [JsonPropertyOrder(172)]
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
    /// (<see cref="ValidationFraction"/> > 0), seeded by <see cref="TrainingRuntime.DataSeed"/>: the one place that decides it.</summary>
    internal Data.HoldoutSplit ValidationSplit(Data.ImageDataset holdout) => Data.HoldoutSplit.Create(holdout.LabelArray(), ValidationFraction, DataSeed);
}
