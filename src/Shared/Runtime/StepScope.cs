using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Runtime;

/// <summary>
/// One mini-batch step of a training or evaluation loop: the tensors it creates are freed when it ends (a dispose
/// scope), and no garbage collection runs inside it (<see cref="GcPause"/>, which keeps TorchSharp's temporary
/// Scalars alive through the native calls they are passed to). Every per-batch loop in Core and Attacks opens one.
/// </summary>
internal readonly struct StepScope : IDisposable
{
    private readonly GcPause pause;
    private readonly DisposeScope tensors;

    private StepScope(GcPause pause, DisposeScope tensors)
    {
        this.pause = pause;
        this.tensors = tensors;
    }

    /// <summary>Opens the step: the pause first, so that the scope's own disposal also runs inside it.</summary>
    public static StepScope Begin()
    {
        var pause = GcPause.Begin();
        return new StepScope(pause, NewDisposeScope());
    }

    public void Dispose()
    {
        tensors?.Dispose();
        pause.Dispose();
    }
}
