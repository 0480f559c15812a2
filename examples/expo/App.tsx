/// <reference types="expo/types" />
// The example's one screen: sign in to the app's backend (the handoffkit
// demo), then "Manage connections" runs the flow of src/connections.ts
// with expo-web-browser's auth session and expo-linking's deep links.
// docs/mobile.md explains each step and how to run it.
import * as Linking from "expo-linking";
import { StatusBar } from "expo-status-bar";
import * as WebBrowser from "expo-web-browser";
import { useEffect, useMemo, useRef, useState } from "react";
import { ActivityIndicator, Button, FlatList, Platform, SafeAreaView, StyleSheet, Text, View } from "react-native";

import { createClient, type Connection, type Result } from "./src/connections";

// The deep link the backend registers (handoff-demo -return-uris): the
// scheme of app.json and a path of the app's choice.
const returnURL = "yourapp://connections";

// The backend as this device reaches it: the iOS simulator shares the
// host's loopback; the Android emulator reaches the host at 10.0.2.2; a
// phone needs EXPO_PUBLIC_BACKEND_URL (the host's LAN address or a tunnel).
const backend =
  process.env.EXPO_PUBLIC_BACKEND_URL ?? (Platform.OS === "android" ? "http://10.0.2.2:8080" : "http://127.0.0.1:8080");
const demoUser = process.env.EXPO_PUBLIC_DEMO_USER ?? "alice";

// signIn stands for the app's own sign-in: the demo gives a bearer token
// for a user picked by name (it has no passwords).
async function signIn(): Promise<string> {
  const res = await fetch(backend + "/api/signin", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: demoUser }),
  });
  if (!res.ok) throw new Error(`sign-in failed: ${res.status}`);
  const body: { token: string } = await res.json();
  return body.token;
}

function describe(r: Result): string {
  switch (r.kind) {
    case "returned":
      return r.outcome === "success" ? "Welcome back: your connections are up to date." : "You are back; the list could not be refreshed yet.";
    case "bluenexus_error":
      return `BlueNexus reported an error (${r.error}). Nothing was changed.`;
    case "cancelled":
      return "Closed before Done: nothing was changed.";
    case "failed":
      return `The ${r.step} step failed: ${r.outcome}${r.status ? ` (HTTP ${r.status})` : ""}.`;
    case "ignored":
      return "";
  }
}

export default function App() {
  const token = useRef<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState("");
  const [connections, setConnections] = useState<Connection[]>([]);

  const client = useMemo(
    () =>
      createClient({
        backend,
        returnURL,
        token: async () => (token.current ??= await signIn()),
        fetch: (url, init) => fetch(url, init),
        openAuthSession: WebBrowser.openAuthSessionAsync,
      }),
    [],
  );

  const show = (r: Result) => {
    if (r.kind === "ignored") return;
    setMessage(describe(r));
    if (r.kind === "returned" || r.kind === "bluenexus_error") setConnections(r.connections);
  };

  // The deep-link listener: a return that reaches the app outside the auth
  // session's result (Android, or the app reopened by the link) is
  // completed here; the client posts each state once.
  useEffect(() => {
    const sub = Linking.addEventListener("url", ({ url }) => void client.handleDeepLink(url).then(show));
    void Linking.getInitialURL().then((url) => {
      if (url) void client.handleDeepLink(url).then(show);
    });
    void client
      .connections()
      .then((c) => Array.isArray(c) && setConnections(c))
      .catch((err) => setMessage(`Could not reach the app's backend at ${backend}: ${String(err)}`));
    return () => sub.remove();
  }, [client]);

  const manage = async () => {
    setBusy(true);
    try {
      show(await client.manage());
    } catch (err) {
      setMessage(`Could not reach the app's backend at ${backend}: ${String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <SafeAreaView style={styles.screen}>
      <Text style={styles.title}>Your connected services</Text>
      <Text style={styles.muted}>Signed in to {backend} as {demoUser}</Text>
      <FlatList
        data={connections}
        keyExtractor={(c) => c.id}
        renderItem={({ item }) => (
          <View style={styles.row}>
            <Text style={styles.provider}>{item.metadata?.providerName ?? item.providerId}</Text>
            <Text style={styles.muted}>
              {item.metadata?.email ?? ""} · {item.status}
            </Text>
          </View>
        )}
        ListEmptyComponent={<Text style={styles.muted}>No services connected yet.</Text>}
      />
      {message !== "" && <Text style={styles.message}>{message}</Text>}
      {busy ? <ActivityIndicator /> : <Button title="Manage connections" onPress={manage} />}
      <StatusBar style="auto" />
    </SafeAreaView>
  );
}

const styles = StyleSheet.create({
  screen: { flex: 1, padding: 24, gap: 12 },
  title: { fontSize: 22, fontWeight: "600" },
  muted: { color: "#57606a" },
  row: { paddingVertical: 8, borderBottomWidth: StyleSheet.hairlineWidth, borderColor: "#d8dde3" },
  provider: { fontSize: 16, fontWeight: "500" },
  message: { padding: 12, backgroundColor: "#eef1f5", borderRadius: 6 },
});
