// An AssemblyScript filter on @solo-io/proxy-runtime 0.1.8 with two root contexts in one module: the runtime
// picks the root by the plugin_root_id property, so two plugins sharing a VM must each get their own behaviour.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, GrpcStatusValues, stream_context,
  send_local_response, HeaderPair,
} from "@solo-io/proxy-runtime";

class AddRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new AddHeader(context_id, this);
  }
}

class AddHeader extends Context {
  root: AddRoot;
  constructor(context_id: u32, root_context: AddRoot) {
    super(context_id, root_context);
    this.root = root_context;
  }
  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const path = stream_context.headers.request.get(":path");
    if (path == "/deny") {
      send_local_response(403, "as_denied", String.UTF8.encode("denied by as"), [], GrpcStatusValues.Unknown);
      return FilterHeadersStatusValues.StopIteration;
    }
    // proxy-runtime 0.1.8's onConfigure passes the configuration size where the size pointer belongs, so the
    // decoded configuration can carry trailing bytes (and an empty one traps, in Envoy too): compare a prefix.
    stream_context.headers.request.add("x-as", "add:" + this.root.getConfiguration().slice(0, 3) + ":" + path);
    return FilterHeadersStatusValues.Continue;
  }
  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add("x-as-response", "1");
    return FilterHeadersStatusValues.Continue;
  }
}

class OtherRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Other(context_id, this);
  }
}

class Other extends Context {
  constructor(context_id: u32, root_context: OtherRoot) {
    super(context_id, root_context);
  }
  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.request.add("x-as", "other");
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new AddRoot(context_id); }, "as_add");
registerRootContext((context_id: u32) => { return new OtherRoot(context_id); }, "as_other");
