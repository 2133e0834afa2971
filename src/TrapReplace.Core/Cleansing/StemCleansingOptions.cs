using TrapReplace.Replacement;
using TrapReplace.Scanning;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Cleansing;

/// <summary>What stem cleansing does with the poison scan's suspects while it continues stage 1.</summary>
public enum CleansingMode
{
    /// <summary>Train on the untrusted set without the suspects.</summary>
    RemoveSuspects,

    /// <summary>Keep the suspects but give them the replaced head's labels, so the trigger is actively paired with
    /// the images' own classes and the stem unlearns it (the default). A suspect the replaced head gives its given label
    /// back cannot be relabelled and is removed.</summary>
    RelabelSuspects,
}

/// <summary>Settings of <see cref="StemCleanser"/>.</summary>
public sealed class StemCleansingOptions
{
    /// <summary>What happens to the suspects. <value>Default <see cref="CleansingMode.RelabelSuspects"/>.</value></summary>
    public CleansingMode Mode { get; set; } = CleansingMode.RelabelSuspects;

    /// <summary>
    /// The continued stage 1 on the cleansed set: a copy of the trapped network (stem, head and decoder) trains on
    /// with the trap loss. <value>Default 5 epochs, Adam lr 1e-3 with cosine decay, batch 256, the trap loss (10 MSE + 1 TV).</value>
    /// </summary>
    public TrapTrainerOptions Continue { get; set; } = new() { Epochs = 5 };

    /// <summary>
    /// The second head replacement on the cleansed stem. <value>The reference stage 2, selecting the epoch by
    /// validation accuracy minus the label-free attack estimate (<see cref="HeadSelection.BestValidationMinusEstimatedAttack"/>).</value>
    /// </summary>
    public HeadReplacerOptions Replace { get; set; } = new() { Selection = HeadSelection.BestValidationMinusEstimatedAttack };

    /// <summary>Relabel mode: a class may keep at most this multiple of the relabels the typical class gets for its
    /// share (its share among the untrusted samples not labelled with the target; the typical class is the median of
    /// relabels per unit of share); the suspects beyond it are removed instead, so the relabelled trigger cannot point
    /// at the class a scanning head reads it as. <value>Default 1.25.</value></summary>
    public double RelabelShareLimit { get; set; } = 1.25;

    /// <summary>Relabel mode: the suspects beyond a class's limit (<see cref="RelabelShareLimit"/>) get a random class still
    /// short of its share of all the relabels instead of being removed, so the relabelled trigger points at every class
    /// in proportion (what a uniform target over the classes teaches, in expectation) rather than at none while the
    /// stem keeps what it learned. <value>Default true.</value></summary>
    public bool FillRelabels { get; set; } = true;

    /// <summary>Which classes the label-free pull estimate counts when it chooses the stage-2 epoch and the network:
    /// the target alone where the cleansing cannot have moved the backdoor to another class (suspects removed, or
    /// relabelled in proportion to every class by <see cref="FillRelabels"/>), every class otherwise.</summary>
    public PullScope PullScope => Mode == CleansingMode.RemoveSuspects || FillRelabels ? PullScope.TargetOnly : PullScope.AnyClass;

    /// <summary>Rounds of continue, replace and scan again; each round adds the suspects its scan finds, and cleansing
    /// stops early when a round finds none. <value>Default 2.</value></summary>
    public int Rounds { get; set; } = 2;

    /// <summary>The scan of every round after the first (<see cref="PoisonScanner.ScanSnapshots"/>). <value>Defaults.</value></summary>
    public PoisonScanOptions Scan { get; set; } = new();

    /// <summary>Widening of every later round's scan through the continued stem (<see cref="SuspectExpander"/>); null
    /// scans without it. Pass the same options the first scan was expanded with. <value>Default null.</value></summary>
    public SuspectExpansionOptions? Expansion { get; set; }

    /// <summary>Also consider the last continued network itself (cleansed stem, its own head trained on the cleansed
    /// untrusted set) as the result, and keep it unless the replaced head's validation accuracy minus its attack
    /// estimate is higher (a tie keeps the continued network) (<see cref="CleansingFinal"/>). Needs held-out suspects for the estimate
    /// (<see cref="EstimateFraction"/> &gt; 0). <value>Default true.</value></summary>
    public bool ConsiderContinuedNetwork { get; set; } = true;

    /// <summary>Share of the suspects (seeded random) kept out of the continued training and used for the per-epoch
    /// attack estimate. <value>Default 0.2.</value></summary>
    public double EstimateFraction { get; set; } = 0.2;

    /// <summary>At most this many suspects are kept for the estimate. <value>Default 1,000.</value></summary>
    public int EstimateSamples { get; set; } = 1000;

    /// <summary>
    /// Where each round keeps its checkpoints (the continued stage 1's and its head replacement's), so an interrupted
    /// cleansing, run again with the same inputs and options, resumes where it stopped and returns what an uninterrupted
    /// one would; null keeps none. A round's folder is named for what it trains on (a SHA-256 of the network it starts
    /// from and of its cleansed images and labels), so a checkpoint is never resumed for other data.
    /// <value>Default null.</value>
    /// </summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Every problem with the values (the nested options' too), one line each; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(Mode)) errors.Add($"Mode must be one of {string.Join(", ", Enum.GetNames<CleansingMode>())}; got {Mode}.");
        if (!(RelabelShareLimit >= 1) || double.IsInfinity(RelabelShareLimit)) errors.Add($"RelabelShareLimit must be a finite number >= 1; got {RelabelShareLimit}.");
        if (Rounds < 1) errors.Add($"Rounds must be >= 1; got {Rounds}.");
        if (Scan is null) errors.Add("Scan must be set.");
        else errors.AddRange(Scan.Validate().Select(e => "Scan." + e));
        if (Expansion is not null) errors.AddRange(Expansion.Validate().Select(e => "Expansion." + e));
        if (!(EstimateFraction >= 0 && EstimateFraction < 1)) errors.Add($"EstimateFraction must be in [0, 1); got {EstimateFraction}.");
        if (EstimateSamples < 1) errors.Add($"EstimateSamples must be >= 1; got {EstimateSamples}.");
        if (Continue is null) errors.Add("Continue must be set.");
        else errors.AddRange(Continue.Validate().Select(e => "Continue." + e));
        if (Replace is null) errors.Add("Replace must be set.");
        else errors.AddRange(Replace.Validate().Select(e => "Replace." + e));
        return errors;
    }

    /// <summary>Throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> listing every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(StemCleansingOptions), typeof(StemCleansingOptions), Validate());

    /// <summary>A copy with copies of the nested options.</summary>
    public StemCleansingOptions Clone() => new()
    {
        Mode = Mode,
        Continue = Continue?.Clone()!,
        Replace = Replace?.Clone()!,
        Rounds = Rounds,
        RelabelShareLimit = RelabelShareLimit,
        FillRelabels = FillRelabels,
        Scan = Scan?.Clone()!,
        Expansion = Expansion?.Clone(),
        ConsiderContinuedNetwork = ConsiderContinuedNetwork,
        EstimateFraction = EstimateFraction,
        EstimateSamples = EstimateSamples,
        CheckpointDirectory = CheckpointDirectory,
    };
}
