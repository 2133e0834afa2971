using TrapReplace.Cleansing;
using TrapReplace.Models;
using TrapReplace.Peers;
using TrapReplace.Replacement;
using TrapReplace.Runtime;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Experiments.Specs;

/// <summary>
/// A named schedule: how much data, how many epochs. <c>paper</c> is the reference schedule of
/// method.md; <c>quick</c> is a CPU-sized schedule that keeps the paper's holdout; <c>smoke</c> is for tests.
/// </summary>
/// <param name="Name">paper, quick or smoke.</param>
/// <param name="PoolCount">Training images drawn (stratified) before anything else; null = the whole training set.</param>
/// <param name="HoldoutFraction">Fraction of the pool kept as the clean, trusted holdout.</param>
/// <param name="UntrustedCount">Untrusted training images drawn (stratified) from the rest of the pool; null = all of it.</param>
/// <param name="TestCount">Test images drawn (stratified) for the final metrics; null = the whole test set.</param>
/// <param name="CurveCount">Test images (a stratified subset of the test selection) measured after every epoch for the curves.</param>
/// <param name="Stage1Epochs">Epochs of stage 1 (trap training, or the plain undefended training).</param>
/// <param name="Stage1BatchSize">Batch size of stage 1.</param>
/// <param name="DefenseEpochs">Epochs of the defense on the holdout (head replacement and fine-tuning get the same budget).</param>
/// <param name="DefenseBatchSize">Batch size of the defense.</param>
/// <param name="Stage1WeightDecay">L2 weight decay of stage 1's Adam; the reference's 5e-4 unless a profile says otherwise.</param>
public sealed record ExperimentProfile(
    string Name,
    int? PoolCount,
    double HoldoutFraction,
    int? UntrustedCount,
    int? TestCount,
    int CurveCount,
    int Stage1Epochs,
    int Stage1BatchSize,
    int DefenseEpochs,
    int DefenseBatchSize,
    double Stage1WeightDecay = 5e-4)
{
    /// <summary>Rounds of stem cleansing (<c>trap-cleanse</c>, <see cref="CleanseOptions"/>): 2 in every named profile.</summary>
    public int CleansingRounds { get; init; } = 2;

    /// <summary>The reference schedule: whole training set, 5 % holdout, 200 + 100 epochs.</summary>
    public static ExperimentProfile Paper { get; } = new("paper", null, 0.05, null, null, 1000, 200, 256, 100, 64);

    /// <summary>
    /// The CPU schedule: the paper's 5 % holdout (2,500 CIFAR-10 images), a stratified 10,000-image untrusted
    /// subset, 10 stage-1 epochs at batch 128, 20 defense epochs, the whole test set.
    /// </summary>
    public static ExperimentProfile Quick { get; } = new("quick", 10_500, 0.05, null, null, 1000, 10, 128, 100, 64);

    /// <summary>
    /// The paper's data proportions on a CPU-sized stage-1 schedule: the whole training set minus the stratified 5 %
    /// holdout (CIFAR-10 47,500 / 2,500), the whole test set, 60 stage-1 epochs with the reference's optimiser and batch
    /// (Adam lr 1e-3, weight decay 5e-4, cosine, batch 256; about 40 minutes for a WRN-16-1 trap network on 2 cores in
    /// bf16), and the reference's 100 head-replacement epochs at batch 64. The undefended BadNets-grid network reaches
    /// 79.5 % clean accuracy, 0.5 points short of the 80 % this profile was meant to reach; neither a lighter weight
    /// decay (<see cref="FullLightDecay"/>, 78.8 %) nor batch 128 (<see cref="FullBatch128"/>, 79.5 %) closed the gap
    /// within the time budget (docs/results.md).
    /// </summary>
    public static ExperimentProfile Full { get; } = new("full", null, 0.05, null, null, 1000, 60, 256, 100, 64);

    /// <summary><see cref="Full"/> with a third of its stage-1 epochs (20): the short end of the schedule-crossover study.</summary>
    public static ExperimentProfile FullShort { get; } = Full with { Name = "full-short", Stage1Epochs = 20 };

    /// <summary><see cref="Full"/> with three times its stage-1 epochs (180): the long end of the schedule-crossover study.</summary>
    public static ExperimentProfile FullLong { get; } = Full with { Name = "full-long", Stage1Epochs = 180 };

    /// <summary><see cref="Full"/> with 35 stage-1 epochs: the first length measured, and the fp32/bf16 parity pair.</summary>
    public static ExperimentProfile Full35 { get; } = Full with { Name = "full-35", Stage1Epochs = 35 };

    /// <summary><see cref="Full"/> with a lighter stage-1 weight decay (1e-4): a measured attempt to reach 80 %.</summary>
    public static ExperimentProfile FullLightDecay { get; } = Full with { Name = "full-wd1e-4", Stage1WeightDecay = 1e-4 };

    /// <summary><see cref="Full"/> at stage-1 batch 128: a measured attempt to reach 80 %.</summary>
    public static ExperimentProfile FullBatch128 { get; } = Full with { Name = "full-b128", Stage1BatchSize = 128 };

    /// <summary>For end-to-end tests: 500 images, one epoch each stage, 300 test images.</summary>
    public static ExperimentProfile Smoke { get; } = new("smoke", 500, 0.2, null, 300, 100, 1, 64, 1, 32);

    /// <summary>All profiles by name.</summary>
    public static IReadOnlyList<ExperimentProfile> All { get; } = [Full, FullShort, FullLong, Full35, FullLightDecay, FullBatch128, Paper, Quick, Smoke];

    /// <summary>Looks a profile up by name.</summary>
    public static ExperimentProfile? Find(string name) => All.FirstOrDefault(p => p.Name == name);

    /// <summary>The profile called <paramref name="name"/>.</summary>
    /// <exception cref="UsageException">No profile has that name; the message lists them.</exception>
    public static ExperimentProfile Parse(string? name) => (name is null ? null : Find(name))
        ?? throw UnknownName.For("--profile", name, All.Select(p => p.Name));

    /// <summary>The profile's name (as <c>--profile</c>, result files and cache keys write it).</summary>
    public override string ToString() => Name;

    /// <summary>Stage-1 options; <paramref name="trap"/> false gives plain training (no decoder).</summary>
    public TrapTrainerOptions Stage1Options(bool trap, int seed, int threads, ComputeDevice device, bool channelsLast = true, Precision precision = Precision.Float32) =>
        RunSettings.Place(new TrapTrainerOptions
        {
            Epochs = Stage1Epochs,
            BatchSize = Stage1BatchSize,
            WeightDecay = Stage1WeightDecay,
            ReconstructionWeight = trap ? 10 : 0,
            TotalVariationWeight = trap ? 1 : 0,
            Precision = precision,
        }, modelSeed: seed, dataSeed: seed, threads, device, channelsLast);

    /// <summary>Stage-2 options: the reference's defaults with this profile's epochs and batch size; the new head's
    /// weights come from their own seed stream (<see cref="HeadReplacerOptions.FreshHeadSeed"/>), not stage 1's.</summary>
    public HeadReplacerOptions ReplaceOptions(int seed, int threads, ComputeDevice device, bool channelsLast = true, Precision precision = Precision.Float32) =>
        RunSettings.Place(new HeadReplacerOptions { Epochs = DefenseEpochs, BatchSize = DefenseBatchSize, Precision = precision },
            modelSeed: HeadReplacerOptions.FreshHeadSeed(seed), dataSeed: seed, threads, device, channelsLast);

    /// <summary>
    /// Stem cleansing (<c>trap-cleanse</c>), <see cref="CleansingRounds"/> rounds (two) of: stage 1 continued for a twelfth of its epochs (5 in
    /// <c>full</c>) with the trap loss and a fresh cosine cycle from Adam lr 1e-3, the suspects relabelled by the
    /// scanning head; then the reference stage 2 again, selecting its epoch by validation accuracy minus the label-free
    /// attack estimate; then (after the first round) a new scan whose suspects join the next round.
    /// </summary>
    public StemCleansingOptions CleanseOptions(int seed, int threads, ComputeDevice device, bool channelsLast = true, Precision precision = Precision.Float32)
    {
        var replace = ReplaceOptions(seed, threads, device, channelsLast, precision);
        replace.Selection = HeadSelection.BestValidationMinusEstimatedAttack;
        var resume = Stage1Options(trap: true, seed, threads, device, channelsLast, precision);
        resume.Epochs = Math.Max(1, Stage1Epochs / 12);
        var scan = new Scanning.PoisonScanOptions { Threads = threads, Device = device, ChannelsLast = channelsLast };
        return new StemCleansingOptions
        {
            Mode = CleansingMode.RelabelSuspects, Continue = resume, Replace = replace, Scan = scan, Rounds = CleansingRounds,
            Expansion = ExpansionOptions(threads, device, channelsLast),
        };
    }

    /// <summary>The stem probe that widens every scan the runner makes (library defaults on the runner's threads and device).</summary>
    public static Scanning.SuspectExpansionOptions ExpansionOptions(int threads, ComputeDevice device, bool channelsLast = true) =>
        new() { Threads = threads, Device = device, ChannelsLast = channelsLast };

    /// <summary>
    /// Fine-tuning baseline: the whole undefended network trained further on the holdout with plain CE,
    /// FineTuningOptions' defaults (SGD lr 0.01 momentum 0.9, cosine: BackdoorBench's fine-tuning setting),
    /// with the same epochs and batch size as head replacement so both see the same budget.
    /// </summary>
    public FineTuningOptions FineTuneOptions(int seed, int threads, ComputeDevice device, bool channelsLast = true, Precision precision = Precision.Float32) =>
        RunSettings.Place(new FineTuningOptions { Epochs = DefenseEpochs, BatchSize = DefenseBatchSize, Precision = precision },
            modelSeed: seed, dataSeed: seed, threads, device, channelsLast);
}
