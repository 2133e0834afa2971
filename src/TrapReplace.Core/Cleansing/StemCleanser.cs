using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Scanning;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Cleansing;

/// <summary>The outcome of stem cleansing. Disposing it disposes both networks.</summary>
/// <param name="Continued">The continued stage 1 on the cleansed set (its network carries the cleansed stem).</param>
/// <param name="Replacement">The second head replacement: the defended network.</param>
/// <param name="Mode">What was done with the suspects.</param>
/// <param name="SuspectCount">How many suspects were removed or relabelled.</param>
/// <param name="RelabelledToOtherClass">Suspects whose new label differs from the given one (relabel mode).</param>
/// <param name="Seconds">Wall time of the whole cleansing.</param>
public sealed record StemCleansingResult(TrapTrainingResult Continued, HeadReplacementResult Replacement, CleansingMode Mode, int SuspectCount,
    int RelabelledToOtherClass, double Seconds) : IDisposable
{
    /// <summary>The defended network: cleansed stem, new head.</summary>
    public TrapNetwork Defended => Replacement.Network;

    /// <inheritdoc />
    public void Dispose()
    {
        Continued.Network.Dispose();
        Replacement.Network.Dispose();
    }
}

/// <summary>
/// Repairs a stem that learned the trigger, using the poison scan's suspects: continues stage 1 (trap loss) from the
/// trapped network on the untrusted set with the suspects removed or relabelled by the replaced head, then replaces
/// the head again on the holdout, choosing the epoch by validation accuracy and a label-free attack estimate
/// (the share of suspects the new head assigns to the inferred target). Sees only the untrusted set, the holdout and
/// the two networks.
/// </summary>
public sealed class StemCleanser
{
    private readonly StemCleansingOptions options;
    private readonly ILoggerFactory loggerFactory;

    /// <summary>Creates a cleanser; the options are validated and copied.</summary>
    public StemCleanser(StemCleansingOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        this.options = (options ?? new StemCleansingOptions()).Clone();
        this.options.ThrowIfInvalid();
        this.loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <summary>A copy of the options in use.</summary>
    public StemCleansingOptions Options => options.Clone();

    /// <summary>Raised after every step of either phase.</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch of either phase.</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <summary>Cleanses the stem of <paramref name="trapped"/> and replaces its head again.</summary>
    /// <param name="trapped">The stage-1 network (with its decoder); not modified.</param>
    /// <param name="replaced">The stage-2 network the scan used (its head relabels the suspects); not modified.</param>
    /// <param name="backbone">The architecture of both.</param>
    /// <param name="untrusted">The set stage 1 trained on (the scan's indices point into it).</param>
    /// <param name="holdout">The clean holdout.</param>
    /// <param name="scan">The poison scan of <paramref name="untrusted"/>.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException">The scan has no suspects or was made for another set.</exception>
    public StemCleansingResult Cleanse(TrapNetwork trapped, TrapNetwork replaced, IBackbone backbone, ImageDataset untrusted, ImageDataset holdout,
        PoisonScanResult scan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        ArgumentNullException.ThrowIfNull(replaced);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(holdout);
        ArgumentNullException.ThrowIfNull(scan);
        if (scan.Scores.Count != untrusted.Count)
            throw new ArgumentException($"the scan scored {scan.Scores.Count} samples; the untrusted set has {untrusted.Count}", nameof(scan));
        if (scan.SuspectIndices.Count == 0)
            throw new ArgumentException("the scan found no suspects: there is nothing to cleanse, keep the Trap-and-Replace result", nameof(scan));
        var clock = Stopwatch.StartNew();
        var device = Optimization.ResolveDevice(options.Replace.Device);

        var (cleansed, relabelled) = CleansedSet(replaced, untrusted, scan.SuspectIndices, device);
        TrapTrainingResult continued;
        using (cleansed)
        {
            var trainer = new TrapTrainer(options.Continue, loggerFactory.CreateLogger<TrapTrainer>());
            trainer.StepCompleted += (_, e) => StepCompleted?.Invoke(this, e);
            trainer.EpochCompleted += (_, e) => EpochCompleted?.Invoke(this, e);
            continued = trainer.FineTune(trapped, backbone, cleansed, cancellationToken);
        }

        try
        {
            var probe = EstimateProbe(scan);
            var replacer = new HeadReplacer(options.Replace, loggerFactory.CreateLogger<HeadReplacer>())
            {
                AttackSuccessEstimator = probe is null ? null : network => PoisonScanner.EstimateAttackSuccess(network, untrusted, probe, device, options.Replace.ChannelsLast),
            };
            replacer.StepCompleted += (_, e) => StepCompleted?.Invoke(this, e);
            replacer.EpochCompleted += (_, e) => EpochCompleted?.Invoke(this, e);
            var replacement = replacer.Fit(continued.Network, backbone, holdout, cancellationToken);
            return new StemCleansingResult(continued, replacement, options.Mode, scan.SuspectIndices.Count, relabelled, clock.Elapsed.TotalSeconds);
        }
        catch
        {
            continued.Network.Dispose();
            throw;
        }
    }

    // The untrusted set without the suspects, or with their labels replaced by the replaced head's predictions.
    private (ImageDataset Set, int Relabelled) CleansedSet(TrapNetwork replaced, ImageDataset untrusted, IReadOnlyList<int> suspects, Device device)
    {
        if (options.Mode == CleansingMode.RemoveSuspects)
        {
            var drop = suspects.ToHashSet();
            return (untrusted.Subset(Enumerable.Range(0, untrusted.Count).Where(i => !drop.Contains(i)).ToArray(), untrusted.Name + "-cleansed"), 0);
        }

        using var suspectSet = untrusted.Subset(suspects, untrusted.Name + "-suspects");
        var logProbabilities = Evaluator.LogProbabilities(replaced, suspectSet, device, channelsLast: options.Replace.ChannelsLast);
        var labels = untrusted.LabelArray();
        int classes = untrusted.ClassCount, changed = 0;
        for (int k = 0; k < suspects.Count; k++)
        {
            var row = logProbabilities.AsSpan(k * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (row[c] > row[best]) best = c;
            if (labels[suspects[k]] != best) changed++;
            labels[suspects[k]] = best;
        }
        using var newLabels = tensor(labels);
        return (ImageDataset.FromTensors(untrusted.Images, newLabels, untrusted.ClassNames, untrusted.Name + "-relabelled"), changed);
    }

    // The suspects (at most EstimateSamples of them, evenly spaced) for the per-epoch estimate; null without a target.
    private PoisonScanResult? EstimateProbe(PoisonScanResult scan)
    {
        if (scan.InferredTarget is null) return null;
        var suspects = scan.SuspectIndices;
        int n = Math.Min(options.EstimateSamples, suspects.Count);
        return scan with { SuspectIndices = Enumerable.Range(0, n).Select(k => suspects[(int)((long)k * suspects.Count / n)]).ToArray() };
    }
}
