using System.Globalization;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Cli.Terminal;

/// <summary>One line per epoch and note, for logs and redirected output; nothing at all when quiet.</summary>
public sealed class PlainObserver(TextWriter writer, bool quiet) : IRunObserver
{
    public void PhaseStarted(string phase, string title, int epochs)
    {
        if (!quiet) writer.WriteLine(epochs > 0 ? $"{title}: {epochs} epochs" : title);
    }

    public void Step(string phase, int epoch, int step, int steps, double loss, double imagesPerSecond)
    {
    }

    public void EpochDone(CurvePoint point, int epochs, double imagesPerSecond, double seconds)
    {
        if (quiet) return;
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{point.Phase} epoch {point.Epoch}{(point.Phase == "stage1" ? $"/{epochs}" : "")}: loss {point.Loss:F4}, train acc {point.TrainAccuracy:P1}, CA {point.CleanAccuracy:P1}, ASR {Format.Percent(point.AttackSuccessRate)}, {imagesPerSecond:F0} img/s, {seconds:F1} s"));
    }

    public void Note(string message)
    {
        if (!quiet) writer.WriteLine(message);
    }
}

/// <summary>Number formatting shared by the terminal and the reports.</summary>
public static class Format
{
    /// <summary>A fraction as a percentage with one decimal, or a dash.</summary>
    public static string Percent(double? fraction) =>
        fraction is double f ? (f * 100).ToString("F1", CultureInfo.InvariantCulture) + " %" : "-";
}
