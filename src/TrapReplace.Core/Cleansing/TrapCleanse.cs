using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Scanning;
using TrapReplace.Training;

namespace TrapReplace.Cleansing;

/// <summary>Options of <see cref="TrapCleanse"/>.</summary>
public sealed class TrapCleanseOptions
{
    /// <summary>Stage 2 on the trapped network: the Trap-and-Replace result the cleansing must beat. Its validation split
    /// is the scan's clean reference, so it must keep one (<see cref="HeadReplacerOptions.ValidationFraction"/> &gt; 0).</summary>
    public HeadReplacerOptions FirstReplacement { get; set; } = new();

    /// <summary>The cleansing; its <see cref="StemCleansingOptions.Scan"/> and <see cref="StemCleansingOptions.Expansion"/>
    /// also make the first scan.</summary>
    public StemCleansingOptions Cleansing { get; set; } = new() { Expansion = new SuspectExpansionOptions() };

    /// <summary>Validation accuracy the cleansed network may lose against Trap and Replace's before the cleansing is
    /// undone (a wrong target relabels clean samples). Default 0.03, the scan-and-cleanse goal's bound on clean accuracy.
    /// Not applied when Trap and Replace's own head sends more than half of the held-out suspects to the target: that
    /// head kept the backdoor, so it is no safe fallback, and the score comparison alone decides.</summary>
    public double MaxValidationLoss { get; set; } = 0.03;

    /// <summary>Every problem with the options, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        errors.AddRange(FirstReplacement.Validate().Select(e => "FirstReplacement." + e));
        errors.AddRange(Cleansing.Validate().Select(e => "Cleansing." + e));
        if (!(FirstReplacement.ValidationFraction > 0)) errors.Add("FirstReplacement.ValidationFraction must be > 0: the scan's clean reference is stage 2's validation split.");
        if (!(MaxValidationLoss >= 0 && MaxValidationLoss <= 1)) errors.Add($"MaxValidationLoss must be in [0, 1]; got {MaxValidationLoss}.");
        return errors;
    }

    /// <summary>Throws when <see cref="Validate"/> finds problems.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Lists every problem.</exception>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(TrapCleanseOptions), typeof(TrapCleanseOptions), Validate());

    /// <summary>A deep copy.</summary>
    public TrapCleanseOptions Clone() => new() { FirstReplacement = FirstReplacement.Clone(), Cleansing = Cleansing.Clone(), MaxValidationLoss = MaxValidationLoss };
}

/// <summary>What <see cref="TrapCleanse"/> decided. <see cref="BackdoorDefenseResult.Network"/> is the returned network;
/// <see cref="Candidates"/> the ones it passed over (owned by the result, disposed with it, except the Trap-and-Replace
/// network a caller lent through <see cref="TrapCleanse.Fit(TrapAndReplaceResult, ImageDataset, ImageDataset, CancellationToken)"/>).</summary>
public sealed record TrapCleanseResult : BackdoorDefenseResult
{
    /// <summary>The first replacement (Trap and Replace); its network is <see cref="BackdoorDefenseResult.Network"/> or a
    /// candidate. Its head snapshots are already released.</summary>
    public required HeadReplacementResult First { get; init; }

    /// <summary>The poison scan of the untrusted set (heads' scan widened and checked by the stem probe).</summary>
    public required PoisonScanResult Scan { get; init; }

    /// <summary>The cleansing, or null when it was skipped (<see cref="SkippedBecause"/>). Its networks are
    /// <see cref="BackdoorDefenseResult.Network"/> or candidates; its head snapshots are already released.</summary>
    public StemCleansingResult? Cleansing { get; init; }

    /// <summary>The first replacement's label-free pull on the held-out suspects, read the way the suspects were
    /// poisoned; null without a cleansing.</summary>
    public BackdoorPull? FirstPull { get; init; }

    /// <summary>True when the cleansed network is the result.</summary>
    public bool Cleansed { get; init; }

    /// <summary>Why no cleansing ran (no target, or the stem probe refuted it); null when it ran.</summary>
    public string? SkippedBecause { get; init; }

    /// <summary>Why the cleansed network gave way to Trap and Replace's; null when it was kept or never made.</summary>
    public string? UndoneBecause { get; init; }

    /// <summary>The networks not returned, by role (<c>trap_and_replace</c>, <c>continued_network</c>, <c>replaced_head</c>).</summary>
    public IReadOnlyDictionary<string, TrapNetwork> Candidates { get; init; } = new Dictionary<string, TrapNetwork>();

    // The first replacement's network when the caller lent it (Fit on a TrapAndReplaceResult): never disposed here.
    internal TrapNetwork? Borrowed { get; init; }

    /// <inheritdoc />
    public override void Dispose()
    {
        foreach (var candidate in Candidates.Values)
            if (!ReferenceEquals(candidate, Borrowed)) candidate.Dispose();
        if (ReferenceEquals(Network, Borrowed)) GC.SuppressFinalize(this);
        else base.Dispose();
    }
}

/// <summary>
/// The defense beyond the paper (<c>trap-cleanse</c>): Trap and Replace's stage 2 on a trapped network, the poison scan,
/// then, when the scan names a target, stem cleansing (<see cref="StemCleanser"/>), kept only when it is not worse than
/// Trap and Replace on what the defender can see: its validation accuracy no more than
/// <see cref="TrapCleanseOptions.MaxValidationLoss"/> below, and validation accuracy minus the label-free pull on the
/// held-out suspects no lower. Sees only the trapped network, the untrusted set and the clean holdout.
/// </summary>
public sealed class TrapCleanse : IBackdoorDefense<TrapCleanseResult>
{
    private readonly TrapCleanseOptions options;
    private readonly ILoggerFactory loggerFactory;

    /// <summary>Creates the defense; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">An option is invalid (all problems are listed).</exception>
    public TrapCleanse(TrapCleanseOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        this.options = (options ?? new TrapCleanseOptions()).Clone();
        this.options.ThrowIfInvalid();
        this.loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <summary>A copy of the options in use.</summary>
    public TrapCleanseOptions Options => options.Clone();

    /// <summary>Raised after every step of every phase.</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch of every phase.</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <inheritdoc />
    public string Name => "trap-cleanse";

    /// <summary>Runs the defense on <see cref="DefenseData.Model"/>, a trapped (stage-1) network that knows its backbone,
    /// with <see cref="DefenseData.Untrusted"/> (the set stage 1 trained on) and <see cref="DefenseData.CleanHoldout"/>.</summary>
    /// <param name="data">The trapped network, the untrusted set and the clean holdout.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public TrapCleanseResult Fit(DefenseData data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Fit(data.Require(data.Model, nameof(data.Model), Name), data.Require(data.Untrusted, nameof(data.Untrusted), Name),
            data.Require(data.CleanHoldout, nameof(data.CleanHoldout), Name), cancellationToken);
    }

    /// <summary>Runs the defense on a trapped (stage-1) network built by this library (it knows its <see cref="TrapNetwork.Backbone"/>).</summary>
    /// <param name="trapped">The stage-1 network with its decoder; not modified.</param>
    /// <param name="untrusted">The set stage 1 trained on.</param>
    /// <param name="holdout">The clean holdout.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException"><paramref name="trapped"/> was composed without its backbone.</exception>
    public TrapCleanseResult Fit(TrapNetwork trapped, ImageDataset untrusted, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        return Fit(trapped, trapped.RequireBackbone(nameof(trapped)), untrusted, holdout, cancellationToken);
    }

    /// <summary>Runs the defense on a trapped (stage-1) network.</summary>
    /// <param name="trapped">The stage-1 network with its decoder; not modified.</param>
    /// <param name="backbone">Its architecture.</param>
    /// <param name="untrusted">The set stage 1 trained on.</param>
    /// <param name="holdout">The clean holdout.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public TrapCleanseResult Fit(TrapNetwork trapped, IBackbone backbone, ImageDataset untrusted, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(holdout);
        var clock = Stopwatch.StartNew();
        var replacer = new HeadReplacer(options.FirstReplacement, loggerFactory.CreateLogger<HeadReplacer>());
        replacer.StepCompleted += (_, e) => StepCompleted?.Invoke(this, e);
        replacer.EpochCompleted += (_, e) => EpochCompleted?.Invoke(this, e);
        var first = replacer.Fit(trapped, backbone, holdout, cancellationToken);
        PoisonScanResult scan;
        try
        {
            scan = Scan(trapped, first, untrusted, holdout, cancellationToken);
        }
        catch
        {
            first.Network.Dispose();
            first.DisposeSnapshots();
            throw;
        }
        first.DisposeSnapshots();
        return Cleanse(trapped, backbone, first, scan, untrusted, holdout, borrowed: null, clock, cancellationToken);
    }

    /// <summary>
    /// Continues from a Trap-and-Replace result the caller already has (<see cref="TrapAndReplaceDefense.Fit(ImageDataset, ImageDataset, IBatchTransform?, CancellationToken)"/>),
    /// so stage 2 does not run a second time: the scan, the cleansing and the guard as in
    /// <see cref="Fit(TrapNetwork, IBackbone, ImageDataset, ImageDataset, CancellationToken)"/>, with
    /// <paramref name="trapAndReplace"/>'s replacement as the first one (<see cref="TrapCleanseOptions.FirstReplacement"/> is not used).
    /// The result borrows <paramref name="trapAndReplace"/>'s networks: disposing it never disposes them, and its
    /// <see cref="BackdoorDefenseResult.Network"/> is <see cref="TrapAndReplaceResult.Defended"/> when Trap and Replace is
    /// kept, so dispose <paramref name="trapAndReplace"/> after you are done with both.
    /// </summary>
    /// <param name="trapAndReplace">Both stages' outcome; its stage 2 must have kept a validation split (the scan's clean reference).</param>
    /// <param name="untrusted">The set stage 1 trained on.</param>
    /// <param name="holdout">The clean holdout stage 2 trained on.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException">Stage 2 kept no validation split, or the trapped network does not carry its backbone.</exception>
    public TrapCleanseResult Fit(TrapAndReplaceResult trapAndReplace, ImageDataset untrusted, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapAndReplace);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(holdout);
        var backbone = trapAndReplace.Trapped.RequireBackbone(nameof(trapAndReplace));
        if (trapAndReplace.Replacement.ValidationIndices.Count == 0)
            throw new ArgumentException("stage 2 kept no validation split (Replace.ValidationFraction was 0), and the scan's clean reference is that split; " +
                "fit Trap and Replace with a ValidationFraction > 0", nameof(trapAndReplace));
        var clock = Stopwatch.StartNew();
        var first = trapAndReplace.Replacement;
        var scan = Scan(trapAndReplace.Trapped, first, untrusted, holdout, cancellationToken);
        return Cleanse(trapAndReplace.Trapped, backbone, first, scan, untrusted, holdout, borrowed: first.Network, clock, cancellationToken);
    }

    private PoisonScanResult Scan(TrapNetwork trapped, HeadReplacementResult first, ImageDataset untrusted, ImageDataset holdout, CancellationToken cancellationToken)
    {
        var expander = options.Cleansing.Expansion is { } expansion ? new SuspectExpander(expansion, loggerFactory.CreateLogger<SuspectExpander>()) : null;
        return new PoisonScanner(options.Cleansing.Scan, loggerFactory.CreateLogger<PoisonScanner>()).ScanAfterReplacement(trapped, first, untrusted, holdout, expander, cancellationToken);
    }

    // The scan's decision, the cleansing and the guard. `borrowed` is the first replacement's network when the caller
    // owns it (the result then never disposes it); null when this defense made it.
    private TrapCleanseResult Cleanse(TrapNetwork trapped, IBackbone backbone, HeadReplacementResult first, PoisonScanResult scan, ImageDataset untrusted,
        ImageDataset holdout, TrapNetwork? borrowed, Stopwatch clock, CancellationToken cancellationToken)
    {
        if (scan.InferredTarget is null || scan.SuspectIndices.Count == 0)
        {
            string reason = scan.RefutedTarget is int refuted
                ? $"the stem probe confirmed {scan.Expansion!.Confirmed} of the {scan.Expansion.Seeds} suspects of class {refuted}: they carry no common trigger feature, so the scan's target was withdrawn"
                : scan.InferredTarget is null
                ? "the scan inferred no target class, so it has no suspects to cleanse"
                : "no suspect is left: the stem probe saw no trigger in any of the heads' suspects";
            return new TrapCleanseResult
            {
                Network = first.Network, History = first.History, Seconds = clock.Elapsed.TotalSeconds, First = first, Scan = scan, SkippedBecause = reason,
                Borrowed = borrowed,
            };
        }

        var cleanser = new StemCleanser(options.Cleansing, loggerFactory);
        cleanser.StepCompleted += (_, e) => StepCompleted?.Invoke(this, e);
        cleanser.EpochCompleted += (_, e) => EpochCompleted?.Invoke(this, e);
        StemCleansingResult cleansed;
        try
        {
            cleansed = cleanser.Cleanse(trapped, backbone, untrusted, holdout, scan, cancellationToken);
        }
        catch
        {
            if (borrowed is null) first.Network.Dispose();
            throw;
        }
        cleansed.Replacement.DisposeSnapshots();
        var candidates = new Dictionary<string, TrapNetwork>
        {
            ["continued_network"] = cleansed.Continued.Network,
            ["replaced_head"] = cleansed.Replacement.Network,
        };
        // The first replacement read the same way the cleansed network was chosen: on the held-out suspects, over the same classes.
        var probe = scan with { SuspectIndices = cleansed.EstimateSuspects };
        var labelling = cleansed.Labelling?.Labelling ?? PoisonLabelling.DirtyLabel;
        BackdoorPull? firstPull;
        using (var validation = holdout.Subset(cleansed.Replacement.ValidationIndices, holdout.Name + "-validation"))
            firstPull = validation.Count == 0 ? null
                : PoisonScanner.EstimateBackdoorPull(first.Network, untrusted, probe, labelling, validation, channelsLast: options.Cleansing.Replace.ChannelsLast,
                    scope: options.Cleansing.PullScope);
        var final = cleansed.Final;
        var history = first.History.Concat(cleansed.Continued.History).Concat(cleansed.Replacement.History).ToList();
        if (UndoReason(first.ValidationAccuracy, firstPull?.Value, final.ValidationAccuracy, final.EstimatedAttackSuccess, options.MaxValidationLoss) is { } undone)
            return new TrapCleanseResult
            {
                Network = first.Network, History = history, Seconds = clock.Elapsed.TotalSeconds, First = first, Scan = scan, Cleansing = cleansed,
                FirstPull = firstPull, UndoneBecause = undone, Candidates = candidates, Borrowed = borrowed,
            };
        candidates.Remove(final.KeptContinuedNetwork ? "continued_network" : "replaced_head");
        candidates["trap_and_replace"] = first.Network;
        return new TrapCleanseResult
        {
            Network = cleansed.Defended, History = history, Seconds = clock.Elapsed.TotalSeconds, First = first, Scan = scan, Cleansing = cleansed,
            FirstPull = firstPull, Cleansed = true, Candidates = candidates, Borrowed = borrowed,
        };
    }

    // A head that sends more than half of the held-out suspects to the target has a working backdoor by its own estimate.
    private const double BackdooredPull = 0.5;

    /// <summary>
    /// Why the cleansed network must give way to Trap and Replace's, or null when it stays. Never worse than Trap and
    /// Replace on what the defender can see: not when it costs more than <paramref name="maxValidationLoss"/> of
    /// validation accuracy (a wrong target relabels clean samples) while Trap and Replace's head pulls at most half of
    /// the held-out suspects to the target (above that it kept the backdoor and is no safe fallback: measured at 20
    /// stage-1 epochs on Blend, 92 % pull against 21 % after cleansing, for 4 points of validation accuracy), and not
    /// when it scores lower on validation accuracy minus the label-free pull on the held-out suspects, the score
    /// that chose it (<see cref="CleansedChoice"/>: a tie keeps the cleansed network). A missing value skips its rule.
    /// </summary>
    internal static string? UndoReason(double? firstAccuracy, double? firstPull, double? cleansedAccuracy, double? cleansedPull, double maxValidationLoss)
    {
        var culture = CultureInfo.InvariantCulture;
        bool firstKeptBackdoor = firstPull > BackdooredPull;
        if (cleansedAccuracy < firstAccuracy - maxValidationLoss && !firstKeptBackdoor)
            return string.Create(culture, $"validation accuracy fell from {firstAccuracy:P1} to {cleansedAccuracy:P1}, more than {maxValidationLoss:P0}");
        if (firstAccuracy is double a && firstPull is double p && cleansedAccuracy is double b && cleansedPull is double q
            && CleansedChoice.FallbackScoresHigher(a, p, b, q))
            return string.Create(culture, $"Trap and Replace scored {a:P1} - {p:P1} on validation accuracy minus the pull estimate, higher than the cleansed network's {b:P1} - {q:P1}");
        return null;
    }
}
