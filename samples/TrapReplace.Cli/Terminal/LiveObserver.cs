using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Cli.Terminal;

/// <summary>
/// The interactive view: a live table that grows by one row per epoch, under it a progress bar of the current
/// epoch with throughput and the phase's estimated time left. Call <see cref="RunAsync"/> around the work.
/// </summary>
public sealed class LiveObserver : IRunObserver
{
    private const int MaxRows = 20;
    private readonly Table table;
    private readonly List<string> notes = [];
    private readonly Stopwatch phaseClock = new();
    private LiveDisplayContext? context;
    private string phaseTitle = "";
    private int phaseEpochs = 1;
    private string progressLine = "";
    private long lastRefreshMs = -1000;

    public LiveObserver(string title)
    {
        table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        foreach (var column in new[] { "phase", "epoch", "loss", "train acc", "CA", "ASR", "img/s", "s" })
            table.AddColumn(new TableColumn(column).RightAligned());
    }

    /// <summary>Runs <paramref name="work"/> with the live view on screen.</summary>
    public Task<T> RunAsync<T>(Func<Task<T>> work) =>
        AnsiConsole.Live(Render()).AutoClear(false).StartAsync(async ctx =>
        {
            context = ctx;
            try
            {
                return await work().ConfigureAwait(false);
            }
            finally
            {
                progressLine = "";
                Refresh(force: true);
            }
        });

    public void PhaseStarted(string phase, string title, int epochs)
    {
        phaseTitle = title;
        phaseEpochs = epochs;
        phaseClock.Restart();
        progressLine = $"{Markup.Escape(title)}: starting";
        Refresh(force: true);
    }

    public void Step(string phase, int epoch, int step, int steps, double loss, double imagesPerSecond)
    {
        // Without a known epoch count (sub-stages of a defense) the bar shows the current epoch only.
        bool known = phaseEpochs > 0;
        double done = known ? (epoch + (step + 1.0) / steps) / phaseEpochs : (step + 1.0) / steps;
        double elapsed = phaseClock.Elapsed.TotalSeconds;
        double left = known && done > 0 ? elapsed / done * (1 - done) : 0;
        const int width = 30;
        int filled = (int)Math.Round(done * width);
        progressLine = string.Create(CultureInfo.InvariantCulture,
            $"{Markup.Escape(phaseTitle)}  [green]{new string('━', filled)}[/][grey]{new string('━', width - filled)}[/] {done:P0}  epoch {epoch + 1}{(known ? $"/{phaseEpochs}" : "")} step {step + 1}/{steps}  loss {loss:F3}  {imagesPerSecond:F0} img/s{(known ? $"  ~{TimeSpan.FromSeconds(left):hh\\:mm\\:ss} left" : "")}");
        Refresh(force: false);
    }

    public void EpochDone(CurvePoint point, int epochs, double imagesPerSecond, double seconds)
    {
        table.AddRow(point.Phase, point.Phase == "stage1" ? $"{point.Epoch}/{epochs}" : $"{point.Epoch}", point.Loss.ToString("F4", CultureInfo.InvariantCulture),
            Format.Percent(point.TrainAccuracy), Format.Percent(point.CleanAccuracy), Format.Percent(point.AttackSuccessRate),
            imagesPerSecond.ToString("F0", CultureInfo.InvariantCulture), seconds.ToString("F1", CultureInfo.InvariantCulture));
        // The paper profile has 300 epochs; the screen keeps the latest ones (the result file keeps all).
        while (table.Rows.Count > MaxRows) table.Rows.RemoveAt(0);
        Refresh(force: true);
    }

    public void Note(string message)
    {
        notes.Add(message);
        Refresh(force: true);
    }

    private IRenderable Render()
    {
        var rows = new List<IRenderable>();
        rows.AddRange(notes.TakeLast(4).Select(n => new Markup($"[grey]{Markup.Escape(n)}[/]")));
        rows.Add(table);
        if (progressLine.Length > 0) rows.Add(new Markup(progressLine));
        return new Rows(rows);
    }

    // Redrawing every step would cost more than the step on small batches; ten times a second is plenty.
    private void Refresh(bool force)
    {
        if (context is null) return;
        long now = Environment.TickCount64;
        if (!force && now - lastRefreshMs < 100) return;
        lastRefreshMs = now;
        context.UpdateTarget(Render());
        context.Refresh();
    }
}
