using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Runtime;
using TrapReplace.Scanning;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Defense;

/// <summary>
/// The fluent entry point. It reads as the method does:
/// <code>
/// var defense = TrapAndReplace.Configure()
///     .WithBackbone(new WideResNet16Backbone(classCount: 10))
///     .WithReconstruction(weight: 10, totalVariationWeight: 1)
///     .Trap(o => o.Epochs = 30)
///     .Replace(o => o.Epochs = 20)
///     .Build();
/// using var result = defense.Fit(untrustedTraining, cleanHoldout);
/// </code>
/// </summary>
public static class TrapAndReplace
{
    /// <summary>Starts a single-use builder with the reference defaults.</summary>
    public static TrapAndReplaceBuilder Configure() => new();
}

/// <summary>Collects the defense's settings; <see cref="Build"/> validates them all and gives an immutable defense.</summary>
public sealed class TrapAndReplaceBuilder
{
    private readonly TrapTrainerOptions trap = new();
    private readonly HeadReplacerOptions replace = new();
    private IBackbone? backbone;
    private ILoggerFactory loggerFactory = NullLoggerFactory.Instance;
    private bool built;

    internal TrapAndReplaceBuilder()
    {
    }

    /// <summary>The architecture and split (required).</summary>
    public TrapAndReplaceBuilder WithBackbone(IBackbone value)
    {
        ThrowIfBuilt();
        backbone = value ?? throw new ArgumentNullException(nameof(value));
        return this;
    }

    /// <summary>The trap's loss weights: lambda for the reconstruction MSE and lambda2 for its total variation (reference: 10 and 1).</summary>
    public TrapAndReplaceBuilder WithReconstruction(double weight = 10, double totalVariationWeight = 1)
    {
        ThrowIfBuilt();
        trap.ReconstructionWeight = weight;
        trap.TotalVariationWeight = totalVariationWeight;
        return this;
    }

    /// <summary>Adjusts the stage-1 options.</summary>
    public TrapAndReplaceBuilder Trap(Action<TrapTrainerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        ThrowIfBuilt();
        configure(trap);
        return this;
    }

    /// <summary>Adjusts the stage-2 options.</summary>
    public TrapAndReplaceBuilder Replace(Action<HeadReplacerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        ThrowIfBuilt();
        configure(replace);
        return this;
    }

    /// <summary>Runs both stages on <paramref name="device"/> (<see cref="ComputeDevice.Cpu"/>, <see cref="ComputeDevice.Cuda"/>).</summary>
    public TrapAndReplaceBuilder OnDevice(ComputeDevice device)
    {
        ThrowIfBuilt();
        trap.Device = device;
        replace.Device = device;
        return this;
    }

    /// <summary>Sets the model and data seeds of both stages from one seed (see <see cref="WithSeeds"/>).</summary>
    public TrapAndReplaceBuilder WithSeed(int seed) => WithSeeds(modelSeed: seed, dataSeed: seed);

    /// <summary>Sets the seed of the initial weights and the seed of the data order and augmentation separately, for
    /// both stages (stage 2's model seed comes from <see cref="HeadReplacerOptions.FreshHeadSeed"/>, so the new head's
    /// initial weights differ from the old head's): vary one while holding the other to see which the result depends on.</summary>
    public TrapAndReplaceBuilder WithSeeds(int modelSeed, int dataSeed)
    {
        ThrowIfBuilt();
        trap.ModelSeed = modelSeed;
        trap.DataSeed = dataSeed;
        replace.ModelSeed = HeadReplacerOptions.FreshHeadSeed(modelSeed);
        replace.DataSeed = dataSeed;
        return this;
    }

    /// <summary>Runs both stages' batches channels-last (true, the default: faster on CPUs) or contiguous; set once
    /// here rather than on each stage's options.</summary>
    public TrapAndReplaceBuilder WithChannelsLast(bool enabled = true)
    {
        ThrowIfBuilt();
        trap.ChannelsLast = enabled;
        replace.ChannelsLast = enabled;
        return this;
    }

    /// <summary>Runs both stages' training forward passes in <paramref name="precision"/> (<see cref="TrainingRuntime.Precision"/>);
    /// <see cref="MixedPrecision.Recommended"/> is bf16 exactly where the CPU has native bf16, the runner's default.</summary>
    public TrapAndReplaceBuilder WithPrecision(Precision precision)
    {
        if (!Enum.IsDefined(precision)) throw new ArgumentOutOfRangeException(nameof(precision), precision, "unknown precision");
        ThrowIfBuilt();
        trap.Precision = precision;
        replace.Precision = precision;
        return this;
    }

    /// <summary>Pins the thread count of both stages (needed for bit-identical resumes).</summary>
    public TrapAndReplaceBuilder WithThreads(int threads)
    {
        ThrowIfBuilt();
        trap.Threads = threads;
        replace.Threads = threads;
        return this;
    }

    /// <summary>Writes both stages' checkpoints under <paramref name="directory"/> (<c>trap/</c> and <c>replace/</c>) and resumes from them.</summary>
    public TrapAndReplaceBuilder WithCheckpoints(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ThrowIfBuilt();
        trap.CheckpointDirectory = Path.Combine(directory, "trap");
        replace.CheckpointDirectory = Path.Combine(directory, "replace");
        return this;
    }

    /// <summary>Logs through <paramref name="factory"/>.</summary>
    public TrapAndReplaceBuilder WithLogging(ILoggerFactory factory)
    {
        ThrowIfBuilt();
        loggerFactory = factory ?? throw new ArgumentNullException(nameof(factory));
        return this;
    }

    /// <summary>Validates everything (one error naming every bad value) and returns the defense. The builder cannot be used again.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some setting is invalid.</exception>
    public TrapAndReplaceDefense Build()
    {
        ThrowIfBuilt();
        var errors = new List<string>();
        if (backbone is null) errors.Add("A backbone is required: call WithBackbone(...).");
        errors.AddRange(trap.Validate().Select(e => "Trap." + e));
        errors.AddRange(replace.Validate().Select(e => "Replace." + e));
        SettingChecks.ThrowIfAny("TrapAndReplace", typeof(TrapAndReplaceDefense), errors);
        built = true;
        return new TrapAndReplaceDefense(backbone!, trap.Clone(), replace.Clone(), loggerFactory);
    }

    private void ThrowIfBuilt()
    {
        if (built) throw new InvalidOperationException("This builder has already built a defense; start a new one with TrapAndReplace.Configure().");
    }
}

/// <summary>A configured Trap-and-Replace defense: fit it on untrusted data and a clean holdout.</summary>
public sealed class TrapAndReplaceDefense : IBackdoorDefense<TrapAndReplaceResult>
{
    private readonly ILoggerFactory loggerFactory;

    internal TrapAndReplaceDefense(IBackbone backbone, TrapTrainerOptions trap, HeadReplacerOptions replace, ILoggerFactory loggerFactory)
    {
        Backbone = backbone;
        TrapOptions = trap;
        ReplaceOptions = replace;
        this.loggerFactory = loggerFactory;
    }

    /// <summary>The architecture and split.</summary>
    public IBackbone Backbone { get; }

    /// <summary>Stage-1 options (a copy; changing it does not change the defense).</summary>
    public TrapTrainerOptions TrapOptions { get => field.Clone(); }

    /// <summary>Stage-2 options (a copy).</summary>
    public HeadReplacerOptions ReplaceOptions { get => field.Clone(); }

    /// <summary>Raised after every step of either stage.</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch of either stage.</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <inheritdoc />
    public string Name => "trap-replace";

    /// <summary>Stage 1 on <see cref="DefenseData.Untrusted"/> (with <see cref="DefenseData.BatchTransform"/>, evaluation
    /// only), then stage 2 on <see cref="DefenseData.CleanHoldout"/> (see <see cref="Fit(ImageDataset, ImageDataset, IBatchTransform?, CancellationToken)"/>).</summary>
    /// <param name="data">The untrusted set and the clean holdout; the backbone is the builder's.</param>
    /// <param name="cancellationToken">Stops between steps; checkpoints of finished epochs stay.</param>
    public TrapAndReplaceResult Fit(DefenseData data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Fit(data.Require(data.Untrusted, nameof(data.Untrusted), Name), data.Require(data.CleanHoldout, nameof(data.CleanHoldout), Name),
            data.BatchTransform, cancellationToken);
    }

    /// <summary>
    /// Stage 1 on <paramref name="untrusted"/>, then stage 2 on <paramref name="cleanHoldout"/>. The two
    /// sets must be disjoint (use <see cref="HoldoutSplit"/>).
    /// </summary>
    /// <param name="untrusted">Training data, possibly poisoned.</param>
    /// <param name="cleanHoldout">A small clean, trusted set.</param>
    /// <param name="batchTransform">Optional per-batch poisoning for training-time attacks (evaluation only).</param>
    /// <param name="cancellationToken">Stops between steps; checkpoints of finished epochs stay.</param>
    /// <exception cref="ArgumentException">Either set cannot train its stage (image size, classes, a holdout too small
    /// for <c>Replace.ValidationFraction</c>, ...): checked before stage 1, one message naming every problem.</exception>
    public TrapAndReplaceResult Fit(ImageDataset untrusted, ImageDataset cleanHoldout, IBatchTransform? batchTransform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(cleanHoldout);
        // Both stages' inputs are checked before stage 1 spends its hours, not when stage 2 starts.
        var problems = TrapTrainer.DataProblems(Backbone, untrusted, TrapOptions, "Trap.")
            .Concat(HeadReplacer.HoldoutProblems(Backbone, cleanHoldout, ReplaceOptions, "Replace.")).ToList();
        if (problems.Count > 0)
            throw new ArgumentException("nothing was trained: " + string.Join("; ", problems), nameof(untrusted));
        var trainer = new TrapTrainer(TrapOptions, loggerFactory.CreateLogger<TrapTrainer>());
        trainer.StepCompleted += (s, e) => StepCompleted?.Invoke(this, e);
        trainer.EpochCompleted += (s, e) => EpochCompleted?.Invoke(this, e);
        var trapped = trainer.Fit(Backbone, untrusted, batchTransform, cancellationToken);
        try
        {
            var replacer = new HeadReplacer(ReplaceOptions, loggerFactory.CreateLogger<HeadReplacer>());
            replacer.StepCompleted += (s, e) => StepCompleted?.Invoke(this, e);
            replacer.EpochCompleted += (s, e) => EpochCompleted?.Invoke(this, e);
            var replaced = replacer.Fit(trapped.Network, Backbone, cleanHoldout, cancellationToken);
            return new TrapAndReplaceResult(trapped, replaced);
        }
        catch
        {
            trapped.Network.Dispose();
            throw;
        }
    }
}

/// <summary>Both stages' outcomes (<see cref="BackdoorDefenseResult.Network"/> is the defended network, the history both
/// stages' epochs). Disposing it disposes both networks.</summary>
public sealed record TrapAndReplaceResult : BackdoorDefenseResult
{
    /// <summary>Both stages' outcomes.</summary>
    /// <param name="trap">Stage 1: the trapped network (its original head is the undefended reference).</param>
    /// <param name="replacement">Stage 2: the defended network.</param>
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public TrapAndReplaceResult(TrapTrainingResult trap, HeadReplacementResult replacement)
    {
        ArgumentNullException.ThrowIfNull(trap);
        ArgumentNullException.ThrowIfNull(replacement);
        Trap = trap;
        Replacement = replacement;
        Network = replacement.Network;
        History = [.. trap.History, .. replacement.History];
        Seconds = trap.Seconds + replacement.Seconds;
    }

    /// <summary>Stage 1: the trapped network (its original head is the undefended reference).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public TrapTrainingResult Trap { get; }

    /// <summary>Stage 2: the defended network.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public HeadReplacementResult Replacement { get; }

    /// <summary>The epoch stage 2 selected (0-based).</summary>
    public int SelectedEpoch => Replacement.SelectedEpoch;

    /// <summary>The selected head's accuracy on the holdout's validation split (absent without one).</summary>
    public double? ValidationAccuracy => Replacement.ValidationAccuracy;

    /// <summary>The trapped network with its original (possibly backdoored) head.</summary>
    public TrapNetwork Trapped => Trap.Network;

    /// <summary>The defended network: trapped stem, new head.</summary>
    public TrapNetwork Defended => Replacement.Network;

    /// <summary>
    /// Which untrusted samples are poisoned: scores every sample from the trapped head and the stage-2 head that kept
    /// least of the backdoor among the kept snapshots (see <see cref="PoisonScanner.ScanSnapshots"/>), with each
    /// threshold taken from the holdout's validation images, which no head trained on; then widens the suspects with
    /// a probe on the trapped stem's features (<see cref="SuspectExpander"/>), which finds the poison a stem that
    /// learned the trigger hides from every clean head.
    /// </summary>
    /// <param name="untrusted">The set <see cref="TrapAndReplaceDefense.Fit(ImageDataset, ImageDataset, IBatchTransform?, CancellationToken)"/> trained stage 1 on.</param>
    /// <param name="cleanHoldout">The holdout stage 2 trained on (its validation part is the clean reference; all of it is the probe's clean side).</param>
    /// <param name="options">Scan settings; when null, the defaults on stage 2's device, threads and layout.</param>
    /// <param name="expansion">Stem-probe settings; when null, the defaults on stage 2's device, threads and layout.</param>
    /// <param name="expand">False returns the heads' scan without the stem probe.</param>
    /// <param name="cancellationToken">Checked between passes.</param>
    /// <exception cref="InvalidOperationException">Stage 2 kept no validation split (ValidationFraction was 0).</exception>
    public PoisonScanResult ScanForPoison(ImageDataset untrusted, ImageDataset cleanHoldout, PoisonScanOptions? options = null,
        SuspectExpansionOptions? expansion = null, bool expand = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(cleanHoldout);
        // Unless told otherwise the scan runs where stage 2 ran: the device, threads and layout are set once, on the defense.
        if (Replacement.Options is { } stage2)
        {
            options ??= new PoisonScanOptions { Device = stage2.Device, Threads = stage2.Threads, ChannelsLast = stage2.ChannelsLast };
            expansion ??= new SuspectExpansionOptions { Device = stage2.Device, Threads = stage2.Threads, ChannelsLast = stage2.ChannelsLast };
        }
        return new PoisonScanner(options).ScanAfterReplacement(Trapped, Replacement, untrusted, cleanHoldout, expand ? new SuspectExpander(expansion) : null, cancellationToken);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        Trap.Network.Dispose();
        Replacement.DisposeSnapshots();
        base.Dispose();
    }
}
